-- Retention: Store::prune deletes old history. The audit log stays
-- append-only for every other statement: a delete passes only inside a
-- transaction that set stackdock.audit_prune (SET LOCAL) — the prune's.
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('stackdock.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
-- The queries a CLI and a UI make: audit by actor and by time, old runs.
CREATE INDEX audit_by_actor ON audit (actor, seq);
CREATE INDEX audit_by_time ON audit (at);
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX inventory_vanished ON inventory (vanished_at) WHERE vanished_at IS NOT NULL;
