-- Sales per day (UTC), with the average basket.
SELECT
  {{ date_of("s.timestamp") }} AS day,
  COUNT(*) AS sales,
  COUNT(DISTINCT s.store_id) AS stores,
  SUM(s.quantity) AS units,
  SUM({{ line_revenue("s") }}) AS revenue,
  {{ ratio("SUM(" ~ line_revenue("s") ~ ")", "COUNT(*)", 2) }} AS avg_sale
FROM {{ ref("sales_fact") }} AS s
GROUP BY 1
