-- High-performing stores: revenue rank, share of total, and revenue against the average store.
WITH per_store AS (
  SELECT r.store_id, SUM(r.sales) AS sales, SUM(r.units) AS units, SUM(r.revenue) AS revenue
  FROM {{ ref("sales_by_store_product") }} AS r
  GROUP BY r.store_id
)
SELECT
  ps.store_id,
  st.location,
  st.region,
  st.size,
  ps.sales,
  ps.units,
  ps.revenue,
  RANK() OVER (ORDER BY ps.revenue DESC, ps.store_id) AS revenue_rank,
  {{ ratio("ps.revenue", "SUM(ps.revenue) OVER ()", 4) }} AS revenue_share,
  {{ ratio("ps.revenue", "AVG(ps.revenue) OVER ()", 3) }} AS vs_average
FROM per_store AS ps
JOIN {{ ref("stores_dim") }} AS st ON st.store_id = ps.store_id
