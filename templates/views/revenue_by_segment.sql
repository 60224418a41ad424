-- Revenue segmented by region, store size, and doorbuster versus regular products.
SELECT
  st.region,
  st.size AS store_size,
  CASE WHEN p.is_doorbuster THEN 'doorbuster' ELSE 'regular' END AS product_segment,
  COUNT(*) AS sales,
  SUM(s.quantity) AS units,
  SUM({{ line_revenue("s") }}) AS revenue
FROM {{ ref("sales_fact") }} AS s
JOIN {{ ref("stores_dim") }} AS st ON st.store_id = s.store_id
JOIN {{ ref("products_dim") }} AS p ON p.product_id = s.product_id
GROUP BY 1, 2, 3
