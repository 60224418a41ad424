-- Sales per store and product: at most stores × products rows however many sales there are.
-- Rankings, categories, regions, segments and totals read this instead of every sale line.
-- Kept up to date as sales land: by BigQuery on gcp, by the loader in each batch's transaction
-- locally.
SELECT
  s.store_id,
  s.product_id,
  COUNT(*) AS sales,
  SUM(s.quantity) AS units,
  SUM({{ line_revenue("s") }}) AS revenue,
  MAX(s.timestamp) AS newest_sale
FROM {{ ref("sales_fact") }} AS s
GROUP BY 1, 2
