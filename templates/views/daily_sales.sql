-- Sales per day (UTC), with the average basket; from the store-hour rollup (an hour lies in one day).
SELECT
  {{ date_of("r.hour") }} AS day,
  SUM(r.sales) AS sales,
  COUNT(DISTINCT r.store_id) AS stores,
  SUM(r.units) AS units,
  SUM(r.revenue) AS revenue,
  {{ ratio("SUM(r.revenue)", "SUM(r.sales)", 2) }} AS avg_sale
FROM {{ ref("sales_by_store_hour") }} AS r
GROUP BY 1
