-- stackdock-runtime state, version 1.

-- One row per run. The partial unique index is the scope lock: at most one
-- queued or running run per scope, enforced by SQLite, not by the caller.
CREATE TABLE runs (
    id          TEXT PRIMARY KEY NOT NULL,
    scope       TEXT NOT NULL,
    operation   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    finished_at TEXT,
    reason      TEXT,
    message     TEXT
);
CREATE UNIQUE INDEX runs_one_active_per_scope ON runs (scope) WHERE status IN ('queued', 'running');
CREATE INDEX runs_by_scope ON runs (scope, created_at);

-- Which steps each run touched, in order.
CREATE TABLE run_steps (
    run_id TEXT NOT NULL REFERENCES runs (id),
    step   TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (run_id, step)
);

-- Resource state per (scope, step); survives runs. `body` is the StepState
-- as JSON (no secrets: specs and outputs are serialised with secret fields
-- skipped); the other columns are what queries filter on.
CREATE TABLE steps (
    scope       TEXT NOT NULL,
    step        TEXT NOT NULL,
    dock        TEXT NOT NULL,
    resource_id TEXT,
    live        INTEGER NOT NULL,
    state       TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (scope, step)
);
CREATE INDEX steps_live_by_resource ON steps (dock, resource_id) WHERE live = 1;

-- The audit log: append-only, enforced by triggers.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    org       TEXT,
    scope     TEXT,
    dock      TEXT,
    resource  TEXT,
    operation TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    reason    TEXT,
    run_id    TEXT,
    message   TEXT
);
CREATE INDEX audit_by_scope ON audit (scope, seq);
CREATE INDEX audit_by_run ON audit (run_id, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Vault ciphertexts, bound to (org, dock, name). The master key is never here.
CREATE TABLE secrets (
    org        TEXT NOT NULL,
    dock       TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org, dock, name)
);
