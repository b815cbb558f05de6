-- On PostgreSQL, the key of the instance that stored a delivery (its
-- lease, store/lease.go): that instance may hold the delivery without a
-- River job, attempting it straight from its commit, and no other instance
-- hands it to River while the instance holds its lease. NULL on SQLite,
-- where one process works the store.
ALTER TABLE delivery ADD COLUMN stored_by INTEGER;
