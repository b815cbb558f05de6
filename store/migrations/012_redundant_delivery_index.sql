-- delivery_event duplicated the leading column of the delivery table's
-- UNIQUE (event_id, endpoint), which serves the same lookups; every
-- delivery stored paid for a second index entry.
DROP INDEX IF EXISTS delivery_event;
