-- Order records hold buyers' and receivers' values: retention purges them
-- by the time they were last merged, as it does the mails they came from.
ALTER TABLE order_body ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_body ADD COLUMN purged_at BIGINT;
CREATE INDEX order_body_updated ON order_body (updated_at);
