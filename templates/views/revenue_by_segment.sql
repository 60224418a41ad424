-- Revenue segmented by region, store size, and doorbuster versus regular products: the
-- store-product rollup (one row per store and product) joined to both dimensions.
WITH per_store_product AS (
  SELECT r.store_id, r.product_id, r.sales, r.units, r.revenue
  FROM {{ ref("sales_by_store_product") }} AS r
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
