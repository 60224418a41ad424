-- Total revenue, and "real-time" revenue: the last hour before the newest sale. Anchoring on the
-- newest event rather than the wall clock gives the same answer for live and replayed data.
-- Totals come from the store-product rollup; the last hour is exact to the microsecond, so it reads
-- the facts — only the newest hour of them, which partitioning and zone maps find quickly.
WITH totals AS (
  SELECT
    SUM(r.revenue) AS total_revenue,
    SUM(r.sales) AS sales,
    SUM(r.units) AS units,
    COUNT(DISTINCT r.store_id) AS stores,
    MAX(r.newest_sale) AS newest_sale
  FROM {{ ref("sales_by_store_product") }} AS r
),
last_hour AS (
  SELECT SUM({{ line_revenue("s") }}) AS revenue
  FROM {{ ref("sales_fact") }} AS s
  WHERE s.timestamp > (SELECT {{ timestamp_sub_hours("t.newest_sale", "1") }} FROM totals AS t)
)
SELECT
  t.total_revenue,
  l.revenue AS last_hour_revenue,
  t.sales,
  t.units,
  t.stores,
  t.newest_sale
FROM totals AS t
CROSS JOIN last_hour AS l
