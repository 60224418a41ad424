-- Best sellers: aggregate the facts first, then attach names (the join touches 1 row per product).
WITH per_product AS (
  SELECT
    s.product_id,
    COUNT(*) AS sales,
    SUM(s.quantity) AS units,
    SUM({{ line_revenue("s") }}) AS revenue
  FROM {{ ref("sales_fact") }} AS s
  GROUP BY s.product_id
)
SELECT
  p.product_id,
  p.name,
  p.category,
  p.is_doorbuster,
  pp.sales,
  pp.units,
  pp.revenue
FROM per_product AS pp
JOIN {{ ref("products_dim") }} AS p ON p.product_id = pp.product_id
