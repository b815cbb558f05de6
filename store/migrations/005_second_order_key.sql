-- A delivery may wait on two orderings at once: an inventory adjustment at
-- an endpoint that also takes order events follows its cart's order event
-- (order_key) and its SKU's earlier adjustments (order_key2).
ALTER TABLE delivery ADD COLUMN order_key2 TEXT NOT NULL DEFAULT '';
CREATE INDEX delivery_pending_order2 ON delivery (endpoint, order_key2, id) WHERE status = 'pending' AND order_key2 <> '';
