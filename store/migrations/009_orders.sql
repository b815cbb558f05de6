-- Orders: one record per cart (tenant, seller_id, pack_no), merged from
-- every order event of the cart (package order), kept up to date in the
-- transaction that stores each event.

-- The merged record's columns that lists filter and sort on. placed_at
-- (µs) is the order date the mails gave, else the 注文情報 mail's, else the
-- first mail's. revision 0 is a cart whose record is not written yet.
CREATE TABLE order_record (
    id         INTEGER PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    seller_id  TEXT    NOT NULL,
    pack_no    TEXT    NOT NULL,
    state      TEXT    NOT NULL DEFAULT '',
    placed_at  BIGINT  NOT NULL DEFAULT 0,
    revision   BIGINT  NOT NULL DEFAULT 0,
    updated_at BIGINT  NOT NULL,
    UNIQUE (tenant, seller_id, pack_no)
);

-- The record itself, as JSON, as the order.updated event and the API carry
-- it: it holds the buyer's and the receiver's personal data. It has its own
-- table so that a list scanning order_record reads small rows.
CREATE TABLE order_body (
    order_id BIGINT NOT NULL PRIMARY KEY REFERENCES order_record (id),
    record   TEXT   NOT NULL
);
CREATE INDEX order_record_seller ON order_record (seller_id, id);
CREATE INDEX order_record_state ON order_record (state, id);
CREATE INDEX order_record_placed ON order_record (placed_at, id);
CREATE INDEX order_record_pack ON order_record (pack_no);

-- The lines of each record, for the search by order number and codes.
CREATE TABLE order_line (
    order_id         BIGINT NOT NULL REFERENCES order_record (id),
    line_key         TEXT   NOT NULL,
    order_no         TEXT   NOT NULL DEFAULT '',
    item_no          TEXT   NOT NULL DEFAULT '',
    seller_item_code TEXT   NOT NULL DEFAULT '',
    option_code      TEXT   NOT NULL DEFAULT '',
    state            TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (order_id, line_key)
);
CREATE INDEX order_line_order_no ON order_line (order_no);
CREATE INDEX order_line_item_no ON order_line (item_no);
CREATE INDEX order_line_seller_code ON order_line (seller_item_code);
CREATE INDEX order_line_option_code ON order_line (option_code);

-- The events merged into each record: exactly those the store derived
-- from (a quarantined mail's only once it is released).
CREATE TABLE order_source (
    order_id BIGINT NOT NULL REFERENCES order_record (id),
    event_id TEXT   NOT NULL,
    PRIMARY KEY (order_id, event_id)
);
CREATE INDEX order_source_event ON order_source (event_id);

-- An order's timeline reads the deliveries of its events.
CREATE INDEX IF NOT EXISTS delivery_event ON delivery (event_id);
