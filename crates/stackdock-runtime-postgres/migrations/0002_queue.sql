-- The queue: a submitted run carries its request; a claimed run carries its
-- lease (worker, expiry by the database's clock, so replicas agree). And a
-- durable cancel request per run (Runtime::cancel), which whichever replica
-- executes the run sees.
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN request TEXT;
ALTER TABLE runs ADD COLUMN lease_worker TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at TIMESTAMPTZ;
-- What a claim scans: queued runs in order, running runs by lease expiry.
CREATE INDEX runs_queued ON runs (seq) WHERE status = 'queued';
CREATE INDEX runs_leased ON runs (lease_expires_at) WHERE status = 'running';
