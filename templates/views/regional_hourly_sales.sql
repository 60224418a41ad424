-- Sales by each store's local hour and its region: when each region's doors-open surge and
-- afternoon peak come. The offset comes from stores_dim, which keeps this identical on BigQuery
-- and DuckDB (no time-zone database needed). Facts are first reduced to one row per store and
-- UTC hour from the rollup (US offsets are whole hours), then shifted.
WITH per_store_hour AS (
  SELECT r.store_id, r.hour, SUM(r.sales) AS sales, SUM(r.units) AS units, SUM(r.revenue) AS revenue
  FROM {{ ref("sales_by_store_hour") }} AS r
  GROUP BY 1, 2
)
SELECT
  EXTRACT(HOUR FROM {{ add_minutes("h.hour", "st.utc_offset_minutes") }}) AS local_hour,
  st.region,
  SUM(h.sales) AS sales,
  SUM(h.units) AS units,
  SUM(h.revenue) AS revenue,
  COUNT(DISTINCT h.store_id) AS stores
FROM per_store_hour AS h
JOIN {{ ref("stores_dim") }} AS st ON st.store_id = h.store_id
GROUP BY 1, 2
