-- The queue: a submitted run carries its request; a claimed run carries its
-- lease (worker, expiry in Unix milliseconds of the store's clock).
ALTER TABLE runs ADD COLUMN request TEXT;
ALTER TABLE runs ADD COLUMN lease_worker TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at INTEGER;
CREATE INDEX runs_claimable ON runs (status, created_at) WHERE status IN ('queued', 'running');
