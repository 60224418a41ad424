-- Sales by each store's local hour: stores span four time zones, so the doors-open surge and
-- the 2–4 pm peak only line up in local time. The offset comes from stores_dim, which keeps
-- this identical on BigQuery and DuckDB (no time-zone database needed).
SELECT
  EXTRACT(HOUR FROM {{ add_minutes("s.timestamp", "st.utc_offset_minutes") }}) AS local_hour,
  COUNT(*) AS sales,
  SUM(s.quantity) AS units,
  SUM({{ line_revenue("s") }}) AS revenue,
  COUNT(DISTINCT s.store_id) AS stores
FROM {{ ref("sales_fact") }} AS s
JOIN {{ ref("stores_dim") }} AS st ON st.store_id = s.store_id
GROUP BY 1
