-- Stock on hand per store and product, from the movements: opening stock and restocks add,
-- sales subtract, a stock-out is a sale that found the shelf empty. Low stock means under a
-- fifth of what the store received.
WITH movements AS (
  SELECT
    i.store_id,
    i.product_id,
    SUM(i.quantity_change) AS on_hand,
    SUM(CASE WHEN i.quantity_change > 0 THEN i.quantity_change ELSE 0 END) AS received,
    -SUM(CASE WHEN i.reason = 'sale' THEN i.quantity_change ELSE 0 END) AS sold,
    {{ countif("i.reason = 'stockout'") }} AS stockouts,
    MAX(i.timestamp) AS last_movement
  FROM {{ ref("inventory_fact") }} AS i
  GROUP BY i.store_id, i.product_id
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
