-- Data lifetime: a mail whose raw bytes and buyer values were erased
-- (past its retention, or on a buyer's request) keeps its row, marked
-- purged_at; the purger finds the mails still to purge by age.
ALTER TABLE mail ADD COLUMN purged_at BIGINT;
CREATE INDEX mail_unpurged ON mail (received_at) WHERE purged_at IS NULL;
-- Deliveries past retention are found by the time they were last moved.
CREATE INDEX delivery_status_updated ON delivery (status, updated_at);

-- One row per erasure on request: who erased what, by which key, without
-- the personal value searched for.
CREATE TABLE erasure (
    id         INTEGER PRIMARY KEY,
    erased_at  BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    matched_by TEXT    NOT NULL,
    mails      INTEGER NOT NULL,
    events     INTEGER NOT NULL,
    refs       TEXT    NOT NULL DEFAULT ''
);
