-- Sales per minute (UTC): at most 1440 rows a day, for revenue_summary's "last hour" (the 60
-- minutes up to the newest sale's) without reading the facts.
SELECT
  {{ timestamp_trunc("s.timestamp", "MINUTE") }} AS minute,
  COUNT(*) AS sales,
  SUM({{ line_revenue("s") }}) AS revenue
FROM {{ ref("sales_fact") }} AS s
GROUP BY 1
