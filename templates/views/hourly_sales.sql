-- Sales per hour (UTC): the shape of the day, from the doors-open surge to the afternoon peak.
-- The label is formatted after aggregating: once per hour, not once per sale.
WITH per_hour AS (
  SELECT
    {{ timestamp_trunc("s.timestamp", "HOUR") }} AS hour,
    COUNT(*) AS sales,
    SUM(s.quantity) AS units,
    SUM({{ line_revenue("s") }}) AS revenue
  FROM {{ ref("sales_fact") }} AS s
  GROUP BY 1
)
SELECT hour, {{ hour_label("hour") }} AS hour_utc, sales, units, revenue
FROM per_hour
