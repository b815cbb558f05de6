-- Mail as received, with its envelope. raw is never altered.
CREATE TABLE mail (
    id          INTEGER PRIMARY KEY,
    queue_id    TEXT    NOT NULL UNIQUE,
    received_at BIGINT  NOT NULL,
    remote_addr TEXT    NOT NULL DEFAULT '',
    helo        TEXT    NOT NULL DEFAULT '',
    mail_from   TEXT    NOT NULL DEFAULT '',
    rcpt_to     TEXT    NOT NULL DEFAULT '',
    tenant      TEXT    NOT NULL DEFAULT '',
    message_id  TEXT    NOT NULL DEFAULT '',
    dedup_key   TEXT    NOT NULL UNIQUE,
    subject     TEXT    NOT NULL DEFAULT '',
    size        BIGINT  NOT NULL,
    raw         BLOB    NOT NULL,
    status      TEXT    NOT NULL,
    event_id    TEXT    NOT NULL DEFAULT '',
    event_type  TEXT    NOT NULL DEFAULT '',
    template    TEXT    NOT NULL DEFAULT '',
    parser      TEXT    NOT NULL DEFAULT '',
    problems    TEXT    NOT NULL DEFAULT '',
    seller_id   TEXT    NOT NULL DEFAULT '',
    pack_no     TEXT    NOT NULL DEFAULT '',
    duplicates  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mail_seller_pack ON mail (seller_id, pack_no);
CREATE INDEX mail_status ON mail (status, id);

-- One event per order event, whichever mails carried it.
CREATE TABLE event (
    id         TEXT   PRIMARY KEY,
    mail_id    BIGINT NOT NULL REFERENCES mail (id),
    type       TEXT   NOT NULL,
    tenant     TEXT   NOT NULL DEFAULT '',
    seller_id  TEXT   NOT NULL DEFAULT '',
    pack_no    TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    payload    BLOB   NOT NULL
);
CREATE INDEX event_mail ON event (mail_id);

CREATE TABLE event_order (
    order_no TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES event (id),
    PRIMARY KEY (order_no, event_id)
);

-- One delivery per event and endpoint; its River job does the attempts.
CREATE TABLE delivery (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL REFERENCES event (id),
    endpoint        TEXT    NOT NULL,
    order_key       TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- retry_base is attempts when an operator last retried: the retry
    -- schedule starts over from there.
    retry_base      INTEGER NOT NULL DEFAULT 0,
    job_id          BIGINT,
    next_attempt_at BIGINT,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    received_at     BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (event_id, endpoint)
);
CREATE INDEX delivery_status ON delivery (status, id);
CREATE INDEX delivery_pending_order ON delivery (endpoint, order_key, id) WHERE status = 'pending';

CREATE TABLE delivery_attempt (
    id          INTEGER PRIMARY KEY,
    delivery_id BIGINT  NOT NULL REFERENCES delivery (id),
    attempt     INTEGER NOT NULL,
    started_at  BIGINT  NOT NULL,
    duration_us BIGINT  NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    response    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX delivery_attempt_delivery ON delivery_attempt (delivery_id, id);

-- Operator and circuit-breaker state of each endpoint.
CREATE TABLE endpoint_state (
    name                 TEXT    PRIMARY KEY,
    disabled_at          BIGINT,
    disabled_reason      TEXT    NOT NULL DEFAULT '',
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    circuit_open_until   BIGINT,
    updated_at           BIGINT  NOT NULL
);
