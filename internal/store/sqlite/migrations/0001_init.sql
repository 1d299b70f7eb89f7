CREATE TABLE records (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    parent      TEXT    NOT NULL DEFAULT '',
    name        TEXT    NOT NULL DEFAULT '',
    data        BLOB    NOT NULL,
    secret      BLOB,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    archived_at INTEGER,
    rev         INTEGER NOT NULL
);
CREATE UNIQUE INDEX records_id ON records (workspace, kind, id);
CREATE UNIQUE INDEX records_name ON records (workspace, kind, parent, name) WHERE name <> '';
CREATE INDEX records_list ON records (workspace, kind, parent, seq);
CREATE INDEX records_children ON records (workspace, parent) WHERE parent <> '';

CREATE TABLE api_keys (
    id             TEXT    PRIMARY KEY,
    workspace      TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    hash           BLOB    NOT NULL UNIQUE,
    hint           TEXT    NOT NULL,
    admin          INTEGER NOT NULL,
    environment_id TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER
);
