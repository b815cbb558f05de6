-- PostgreSQL only: SQLite stores values as they are.
-- The mails, the events' payloads and the records are compressed with lz4
-- where the server has it (PostgreSQL 14 and later, built with lz4). With
-- pglz, the default, compressing them took 3% of the server's CPU under
-- full intake; lz4 takes a fraction of that, for a little more disk.
-- Values written before keep the compression they were written with.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        EXECUTE 'ALTER TABLE mail ALTER COLUMN raw SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE event ALTER COLUMN payload SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE order_body ALTER COLUMN record SET COMPRESSION lz4';
    END IF;
END
$$;
