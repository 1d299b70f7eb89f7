-- The self-hosted work queue. Times are Unix microseconds.
CREATE TABLE work_items (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT    NOT NULL UNIQUE,
    workspace           TEXT    NOT NULL,
    environment_id      TEXT    NOT NULL,
    data_type           TEXT    NOT NULL,
    data_id             TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    metadata            TEXT    NOT NULL DEFAULT '{}',
    -- SHA-256 of the current sessions token; the token itself is never kept.
    token_hash          BLOB,
    worker_id           TEXT    NOT NULL DEFAULT '',
    last_heartbeat      TEXT    NOT NULL DEFAULT '',
    ttl_seconds         INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    queued_at           INTEGER NOT NULL,
    polled_at           INTEGER,
    acknowledged_at     INTEGER,
    started_at          INTEGER,
    latest_heartbeat_at INTEGER,
    stop_requested_at   INTEGER,
    stopped_at          INTEGER,
    lease_until         INTEGER,
    rev                 INTEGER NOT NULL
);
CREATE INDEX work_items_env ON work_items (workspace, environment_id, seq);
CREATE INDEX work_items_state ON work_items (workspace, environment_id, state, queued_at);
CREATE INDEX work_items_data ON work_items (workspace, environment_id, data_id);
CREATE UNIQUE INDEX work_items_token ON work_items (token_hash) WHERE token_hash IS NOT NULL;
