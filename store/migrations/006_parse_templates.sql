-- Templates operators add through the admin API, shared by every instance
-- on the store. version counts the changes: instances poll it and rebuild
-- their parser when it moves.
CREATE TABLE parse_template (
    name       TEXT   PRIMARY KEY,
    type       TEXT   NOT NULL DEFAULT '',
    subject    TEXT   NOT NULL DEFAULT '',
    body       TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE parse_template_version (
    singleton INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    version   BIGINT  NOT NULL
);
INSERT INTO parse_template_version (singleton, version) VALUES (1, 0);

-- A re-parse that changed an event: the corrected event supersedes the
-- old one, once (whichever instance or run gets there first).
CREATE TABLE event_supersede (
    old_id     TEXT   NOT NULL PRIMARY KEY,
    new_id     TEXT   NOT NULL,
    mail_id    BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
