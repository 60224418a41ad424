-- Sales by region and store location.
WITH per_store AS (
  SELECT r.store_id, SUM(r.sales) AS sales, SUM(r.units) AS units, SUM(r.revenue) AS revenue
  FROM {{ ref("sales_by_store_product") }} AS r
  GROUP BY r.store_id
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
