-- Sales by each store's local hour and its region: when each region's doors-open surge and
-- afternoon peak come. The offset comes from stores_dim, which keeps this identical on BigQuery
-- and DuckDB (no time-zone database needed). The store-hour rollup already holds one row per
-- store and UTC hour (US offsets are whole hours), so each row is shifted as it is.
SELECT
  EXTRACT(HOUR FROM {{ add_minutes("r.hour", "st.utc_offset_minutes") }}) AS local_hour,
  st.region,
  SUM(r.sales) AS sales,
  SUM(r.units) AS units,
  SUM(r.revenue) AS revenue,
  COUNT(DISTINCT r.store_id) AS stores
FROM {{ ref("sales_by_store_hour") }} AS r
JOIN {{ ref("stores_dim") }} AS st ON st.store_id = r.store_id
GROUP BY 1, 2
