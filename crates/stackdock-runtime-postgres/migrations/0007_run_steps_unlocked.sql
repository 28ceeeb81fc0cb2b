-- A step write notes the run that touched the step in run_steps. With the
-- foreign key to runs, every new note took a shared lock on its run's row
-- (and ran the key check): a write of a group commit then locked the run
-- row for nothing (the fenced writes of a worker already hold it), and two
-- groups in flight built a multixact on it. Notes name a run by
-- construction — the runtime writes them only for a run it started or
-- claimed — and prune deletes a run's notes with the run, so the key is
-- dropped; the runs(id) primary key still makes the lookup by run cheap.
ALTER TABLE run_steps DROP CONSTRAINT IF EXISTS run_steps_run_id_fkey;
