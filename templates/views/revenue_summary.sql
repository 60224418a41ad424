-- Total revenue, and "real-time" revenue: the last hour before the newest sale. Anchoring on the
-- newest event rather than the wall clock gives the same answer for live and replayed data.
WITH newest AS (
  SELECT MAX(timestamp) AS at FROM {{ ref("sales_fact") }}
)
SELECT
  SUM({{ line_revenue("s") }}) AS total_revenue,
  SUM(CASE WHEN s.timestamp > {{ timestamp_sub_hours("n.at", "1") }} THEN {{ line_revenue("s") }} ELSE 0 END) AS last_hour_revenue,
  COUNT(*) AS sales,
  SUM(s.quantity) AS units,
  COUNT(DISTINCT s.store_id) AS stores,
  MAX(n.at) AS newest_sale
FROM {{ ref("sales_fact") }} AS s
CROSS JOIN newest AS n
