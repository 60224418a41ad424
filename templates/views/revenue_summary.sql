-- Total revenue, and "real-time" revenue: the last hour of data, as the 60 minutes up to the
-- newest sale's minute. Anchoring on the newest event rather than the wall clock gives the
-- same answer for live and replayed data. Both read rollups, never the facts: totals the
-- store-product one, the last hour the per-minute one.
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
  SELECT SUM(m.revenue) AS revenue
  FROM {{ ref("sales_by_minute") }} AS m
  WHERE m.minute > (SELECT {{ timestamp_sub_hours("MAX(n.minute)", "1") }} FROM {{ ref("sales_by_minute") }} AS n)
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
