-- Revenue segmented by region, store size, and doorbuster versus regular products. Facts are
-- reduced to one row per store and product before the dimensions are joined.
WITH per_store_product AS (
  SELECT
    s.store_id,
    s.product_id,
    COUNT(*) AS sales,
    SUM(s.quantity) AS units,
    SUM({{ line_revenue("s") }}) AS revenue
  FROM {{ ref("sales_fact") }} AS s
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
