-- Stock movements per store and product: what is on hand, received, sold and stocked out.
-- Signs are applied inside the sums (a sum of negated values merges; a negated sum would not).
SELECT
  i.store_id,
  i.product_id,
  SUM(i.quantity_change) AS on_hand,
  SUM(CASE WHEN i.quantity_change > 0 THEN i.quantity_change ELSE 0 END) AS received,
  SUM(CASE WHEN i.reason = 'sale' THEN -i.quantity_change ELSE 0 END) AS sold,
  {{ countif("i.reason = 'stockout'") }} AS stockouts,
  MAX(i.timestamp) AS last_movement
FROM {{ ref("inventory_fact") }} AS i
GROUP BY 1, 2
