-- Sessions and their durable event logs.
CREATE TABLE sessions (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    workspace        TEXT    NOT NULL,
    agent_id         TEXT    NOT NULL DEFAULT '',
    agent_version    INTEGER NOT NULL DEFAULT 0,
    environment_id   TEXT    NOT NULL DEFAULT '',
    deployment_id    TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL,
    -- JSON array, read back into Session.MemoryStoreIDs; session_memory_stores
    -- is the indexed copy the list filter uses.
    memory_store_ids TEXT    NOT NULL DEFAULT '[]',
    data             BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    archived_at      INTEGER,
    rev              INTEGER NOT NULL,
    owner            TEXT    NOT NULL DEFAULT '',
    lease_until      INTEGER,
    -- The Seq of the newest event. Appends bump it in the same transaction
    -- that inserts the events, so the row lock it takes orders concurrent
    -- appends and a rollback returns the numbers: Seqs stay gap-free.
    last_event_seq   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_list ON sessions (workspace, seq);
CREATE INDEX sessions_agent ON sessions (workspace, agent_id, agent_version, seq);
CREATE INDEX sessions_deployment ON sessions (workspace, deployment_id, seq) WHERE deployment_id <> '';
CREATE INDEX sessions_ws_status ON sessions (workspace, status, seq);
CREATE INDEX sessions_status ON sessions (status, seq);

CREATE TABLE session_memory_stores (
    session_id      TEXT NOT NULL,
    memory_store_id TEXT NOT NULL,
    PRIMARY KEY (session_id, memory_store_id)
);
CREATE INDEX session_memory_stores_store ON session_memory_stores (memory_store_id, session_id);

CREATE TABLE session_events (
    session_id   TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    id           TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    thread_id    TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    processed_at INTEGER,
    data         BLOB    NOT NULL,
    private      BLOB,
    PRIMARY KEY (session_id, seq)
);
CREATE UNIQUE INDEX session_events_id ON session_events (id);
CREATE INDEX session_events_type ON session_events (session_id, type, seq);
CREATE INDEX session_events_thread ON session_events (session_id, thread_id, seq);
CREATE INDEX session_events_processed ON session_events (session_id, processed_at) WHERE processed_at IS NOT NULL;
