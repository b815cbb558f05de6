-- PostgreSQL only: SQLite has one writer.
-- From this version on, every transaction that stores a cart's delivery
-- holds the cart key's advisory lock until it commits (store/orderlock.go),
-- and a delivery stored so is attempted without a second look for an
-- earlier one. An older release stores them without the lock; recording
-- this version makes it refuse to start on the store, so that once its
-- running instances have stopped none comes back.
COMMENT ON COLUMN delivery.order_key IS 'a cart''s key is stored under its advisory lock (store/orderlock.go)';
