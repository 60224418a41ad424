-- Best sellers: aggregate the store-product rollup first, then attach names (the join touches 1 row per product).
WITH per_product AS (
  SELECT r.product_id, SUM(r.sales) AS sales, SUM(r.units) AS units, SUM(r.revenue) AS revenue
  FROM {{ ref("sales_by_store_product") }} AS r
  GROUP BY r.product_id
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
