-- Sales per hour (UTC): the shape of the day, from the doors-open surge to the afternoon peak.
-- Read from the store-hour rollup; the label is formatted once per hour, not once per sale.
WITH per_hour AS (
  SELECT r.hour, SUM(r.sales) AS sales, SUM(r.units) AS units, SUM(r.revenue) AS revenue
  FROM {{ ref("sales_by_store_hour") }} AS r
  GROUP BY 1
)
SELECT hour, {{ hour_label("hour") }} AS hour_utc, sales, units, revenue
FROM per_hour
