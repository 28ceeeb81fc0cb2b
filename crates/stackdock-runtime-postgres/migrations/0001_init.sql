-- stackdock-runtime state on PostgreSQL, version 1: the same tables as the
-- SQLite store (migrations 0001-0003 there), in PostgreSQL's types. Runs in
-- the store's schema (the connection's search_path).

-- One row per run. The partial unique index is the scope lock: at most one
-- queued or running run per scope, enforced by PostgreSQL, not the caller.
CREATE TABLE runs (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    id          TEXT PRIMARY KEY,
    scope       TEXT NOT NULL,
    operation   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    reason      TEXT,
    message     TEXT
);
CREATE UNIQUE INDEX runs_one_active_per_scope ON runs (scope) WHERE status IN ('queued', 'running');
CREATE INDEX runs_by_scope ON runs (scope, seq);

-- Which steps each run touched, in the order it first touched them.
CREATE TABLE run_steps (
    seq    BIGINT GENERATED ALWAYS AS IDENTITY,
    run_id TEXT NOT NULL REFERENCES runs (id),
    step   TEXT NOT NULL,
    PRIMARY KEY (run_id, step)
);

-- Resource state per (scope, step); survives runs. `body` is the StepState
-- as JSON text (exact round trip; no secrets in it).
CREATE TABLE steps (
    scope       TEXT NOT NULL,
    step        TEXT NOT NULL,
    dock        TEXT NOT NULL,
    resource_id TEXT,
    live        BOOLEAN NOT NULL,
    state       TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, step)
);
CREATE INDEX steps_live_by_resource ON steps (dock, resource_id) WHERE live;

-- The audit log: append-only, enforced by a trigger.
CREATE TABLE audit (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
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
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Vault ciphertexts, bound to (org, dock, name). The master key is never here.
CREATE TABLE secrets (
    org        TEXT NOT NULL,
    dock       TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    nonce      BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org, dock, name)
);

-- Which organisation owns each scope (claimed by the first apply).
CREATE TABLE scopes (
    scope      TEXT PRIMARY KEY,
    org        TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- Inventory: what each dock has, as last listed, by (dock, kind, provider id).
CREATE TABLE inventory (
    dock                 TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    provider_resource_id TEXT NOT NULL,
    name                 TEXT NOT NULL,
    body                 TEXT NOT NULL,
    first_seen_at        TIMESTAMPTZ NOT NULL,
    last_seen_at         TIMESTAMPTZ NOT NULL,
    vanished_at          TIMESTAMPTZ,
    PRIMARY KEY (dock, kind, provider_resource_id)
);

-- The last sync of each dock.
CREATE TABLE dock_syncs (
    dock            TEXT PRIMARY KEY,
    last_sync_at    TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    last_sync_error TEXT,
    items           BIGINT NOT NULL DEFAULT 0
);
