-- stackdock-runtime state, version 4: a durable cancel request per run, so
-- whichever process executes the run sees it (Runtime::cancel).
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
