-- A delivery's second order key is now a group it follows without holding
-- it up. Pending stock adjustments were stored with their cart's key first
-- and their SKU's second: swap them, so that they keep their place in
-- their SKU's order and the cart's next events no longer wait for them.
UPDATE delivery SET order_key = order_key2, order_key2 = order_key
WHERE status = 'pending' AND order_key2 <> ''
  AND event_id IN (SELECT id FROM event WHERE type LIKE 'inventory.%');
