-- Stock on hand per store and product, from the movements: opening stock and restocks add,
-- sales subtract, a stock-out is a sale that found the shelf empty. Low stock means under a
-- fifth of what the store received. The sums per store and product come from the rollup.
WITH movements AS (
  SELECT * FROM {{ ref("stock_by_store_product") }}
)
SELECT
  m.store_id,
  m.product_id,
  p.name,
  p.category,
  m.on_hand,
  m.received,
  m.sold,
  m.stockouts,
  m.last_movement,
  CASE
    WHEN m.on_hand <= 0 THEN 'out_of_stock'
    WHEN m.on_hand * 5 < m.received THEN 'low'
    ELSE 'ok'
  END AS stock_status
FROM movements AS m
JOIN {{ ref("products_dim") }} AS p ON p.product_id = m.product_id
