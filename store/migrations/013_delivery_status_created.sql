-- delivery_status_created served one query, the queue statistics' oldest
-- pending delivery, which the first pending id in delivery_status finds as
-- well (ids follow creation). Every delivery stored, and every change of
-- its status, paid for an entry in it.
DROP INDEX IF EXISTS delivery_status_created;
