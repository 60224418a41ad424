-- Revenue and units by category, with each category's share of revenue.
WITH per_product AS (
  SELECT r.product_id, SUM(r.units) AS units, SUM(r.revenue) AS revenue
  FROM {{ ref("sales_by_store_product") }} AS r
  GROUP BY r.product_id
),
per_category AS (
  SELECT p.category, SUM(pp.units) AS units, SUM(pp.revenue) AS revenue
  FROM per_product AS pp
  JOIN {{ ref("products_dim") }} AS p ON p.product_id = pp.product_id
  GROUP BY p.category
)
SELECT
  category,
  units,
  revenue,
  {{ ratio("revenue", "SUM(revenue) OVER ()", 4) }} AS revenue_share
FROM per_category
