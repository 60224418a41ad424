-- Revenue segmented by region, store size, and doorbuster versus regular products. The hourly
-- rollup is reduced to one row per store and product before the dimensions are joined.
WITH per_store_product AS (
  SELECT r.store_id, r.product_id, SUM(r.sales) AS sales, SUM(r.units) AS units, SUM(r.revenue) AS revenue
  FROM {{ ref("sales_rollup") }} AS r
  GROUP BY 1, 2
)
SELECT
  st.region,
  st.size AS store_size,
  CASE WHEN p.is_doorbuster THEN 'doorbuster' ELSE 'regular' END AS product_segment,
  SUM(sp.sales) AS sales,
  SUM(sp.units) AS units,
  SUM(sp.revenue) AS revenue
FROM per_store_product AS sp
JOIN {{ ref("stores_dim") }} AS st ON st.store_id = sp.store_id
JOIN {{ ref("products_dim") }} AS p ON p.product_id = sp.product_id
GROUP BY 1, 2, 3
