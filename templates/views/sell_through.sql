-- Sell-through: units sold over units received (opening stock + restocks), per product.
SELECT
  l.product_id,
  l.name,
  l.category,
  SUM(l.received) AS received,
  SUM(l.sold) AS sold,
  {{ ratio("SUM(l.sold)", "SUM(l.received)", 4) }} AS sell_through,
  SUM(l.stockouts) AS stockouts,
  {{ countif("l.stock_status = 'out_of_stock'") }} AS stores_sold_out
FROM {{ ref("inventory_levels") }} AS l
GROUP BY l.product_id, l.name, l.category
