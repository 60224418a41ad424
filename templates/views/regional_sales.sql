-- Sales by region and store location.
WITH per_store AS (
  SELECT s.store_id, COUNT(*) AS sales, SUM(s.quantity) AS units, SUM({{ line_revenue("s") }}) AS revenue
  FROM {{ ref("sales_fact") }} AS s
  GROUP BY s.store_id
)
SELECT
  st.region,
  st.location,
  COUNT(*) AS stores,
  SUM(ps.sales) AS sales,
  SUM(ps.units) AS units,
  SUM(ps.revenue) AS revenue
FROM per_store AS ps
JOIN {{ ref("stores_dim") }} AS st ON st.store_id = ps.store_id
GROUP BY st.region, st.location
