-- inventory_adjustment_sku served no query: adjustments are read and
-- changed by their primary key alone. Every adjustment stored paid for its
-- entry, and on PostgreSQL a kept plan made while the table was new could
-- take it for the primary key's lookups, reading the seller's every
-- adjustment with the seller as its only condition.
DROP INDEX IF EXISTS inventory_adjustment_sku;
