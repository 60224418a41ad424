-- Sales per store and hour (UTC): stores × opening hours rows per day, for the day's shape,
-- daily totals and each region's local hours.
SELECT
  s.store_id,
  {{ timestamp_trunc("s.timestamp", "HOUR") }} AS hour,
  COUNT(*) AS sales,
  SUM(s.quantity) AS units,
  SUM({{ line_revenue("s") }}) AS revenue
FROM {{ ref("sales_fact") }} AS s
GROUP BY 1, 2
