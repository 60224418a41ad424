-- Sales by each store's local hour: stores span four time zones, so the doors-open surge and
-- the 2–4 pm peak only line up in local time. The regions' figures summed (a store is in one
-- region, so its distinct-store counts add up); see regional_hourly_sales.sql for the shift.
SELECT
  local_hour,
  SUM(sales) AS sales,
  SUM(units) AS units,
  SUM(revenue) AS revenue,
  SUM(stores) AS stores
FROM {{ ref("regional_hourly_sales") }}
GROUP BY 1
