-- Inventory: the seller's QSM catalog downloads, the running stock per SKU,
-- and the stock adjustments derived from order events.

-- The catalog files as imported, byte for byte, to export them back with
-- the current stock. One file of each kind (goods, options) per seller:
-- importing another replaces it.
CREATE TABLE inventory_file (
    seller_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    encoding    TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    raw         BLOB    NOT NULL,
    good_rows   INTEGER NOT NULL,
    bad_rows    INTEGER NOT NULL,
    imported_at BIGINT  NOT NULL,
    PRIMARY KEY (seller_id, kind)
);

-- The running stock of each SKU: the imported quantity, moved by every
-- adjustment since. low is 1 once the stock fell below the threshold and
-- an inventory.low_stock event was derived, until it rises to it again.
CREATE TABLE inventory_stock (
    seller_id    TEXT    NOT NULL,
    sku          TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    line         INTEGER NOT NULL,
    item_no      TEXT    NOT NULL DEFAULT '',
    seller_code  TEXT    NOT NULL DEFAULT '',
    option_code  TEXT    NOT NULL DEFAULT '',
    title        TEXT    NOT NULL DEFAULT '',
    imported_qty BIGINT  NOT NULL,
    qty          BIGINT  NOT NULL,
    low          INTEGER NOT NULL DEFAULT 0,
    imported_at  BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (seller_id, sku)
);
CREATE INDEX inventory_stock_option ON inventory_stock (seller_id, option_code);
CREATE INDEX inventory_stock_seller_code ON inventory_stock (seller_id, seller_code);
CREATE INDEX inventory_stock_item ON inventory_stock (seller_id, item_no);

-- One row per order line (seller_id, order_no) seen by the inventory: its
-- upsert serializes the reserve and the release of a line across
-- instances, and cancelled_at remembers a cancel that came first.
CREATE TABLE inventory_order_line (
    seller_id    TEXT   NOT NULL,
    order_no     TEXT   NOT NULL,
    cancelled_at BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (seller_id, order_no)
);

-- Exactly one adjustment per (seller_id, order_no, reason), whatever mails
-- repeat the order. stock_after is NULL when the SKU is not in the catalog.
CREATE TABLE inventory_adjustment (
    seller_id        TEXT   NOT NULL,
    order_no         TEXT   NOT NULL,
    reason           TEXT   NOT NULL,
    sku              TEXT   NOT NULL,
    item_no          TEXT   NOT NULL DEFAULT '',
    seller_item_code TEXT   NOT NULL DEFAULT '',
    option_code      TEXT   NOT NULL DEFAULT '',
    pack_no          TEXT   NOT NULL DEFAULT '',
    delta            BIGINT NOT NULL,
    stock_after      BIGINT,
    event_id         TEXT   NOT NULL,
    source_event_id  TEXT   NOT NULL,
    tenant           TEXT   NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (seller_id, order_no, reason)
);
CREATE INDEX inventory_adjustment_sku ON inventory_adjustment (seller_id, sku, created_at);
