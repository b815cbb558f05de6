-- A catalog file is stored in chunks, each written in a transaction of its
-- own, so that importing a large file never holds the store's writer for
-- long. inventory_file.upload names the chunks of the file in use; a file
-- imported before this migration keeps its bytes in inventory_file.raw
-- (upload is then '').
ALTER TABLE inventory_file ADD COLUMN upload TEXT NOT NULL DEFAULT '';

CREATE TABLE inventory_file_chunk (
    upload TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    data   BLOB    NOT NULL,
    PRIMARY KEY (upload, seq)
);

-- Console sessions ended by logout, until they would have expired: a copy
-- of the cookie dies with the session, on every instance.
CREATE TABLE admin_session_revoked (
    id         TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- One row that readiness rewrites: a commit that writes, to tell whether
-- one can succeed now (an UPDATE that changes nothing writes nothing).
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY,
    at BIGINT  NOT NULL
);
INSERT INTO store_probe (id, at) VALUES (1, 0);
