-- Sales per hour (UTC): the shape of the day, from the doors-open surge to the afternoon peak.
SELECT
  {{ timestamp_trunc("s.timestamp", "HOUR") }} AS hour,
  {{ hour_label(timestamp_trunc("s.timestamp", "HOUR")) }} AS hour_utc,
  COUNT(*) AS sales,
  SUM(s.quantity) AS units,
  SUM({{ line_revenue("s") }}) AS revenue
FROM {{ ref("sales_fact") }} AS s
GROUP BY 1, 2
