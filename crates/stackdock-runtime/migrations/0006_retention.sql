-- Retention: Store::prune deletes old history. The audit log stays
-- append-only for every other statement: a delete passes only while the
-- prune transaction has opened the gate.
CREATE TABLE audit_prune_gate (open INTEGER NOT NULL);
INSERT INTO audit_prune_gate (open) VALUES (0);
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN (SELECT open FROM audit_prune_gate) <> 1
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
-- The queries a CLI and a UI make: audit by actor and by time, old runs.
CREATE INDEX audit_by_actor ON audit (actor, seq);
CREATE INDEX audit_by_time ON audit (at);
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
