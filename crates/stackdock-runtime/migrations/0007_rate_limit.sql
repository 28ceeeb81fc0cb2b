-- The request budget a dock's provider reported at the end of its last
-- sync (DockAdapter::rate_limit); NULL where the provider said nothing.
ALTER TABLE dock_syncs ADD COLUMN rate_limit_limit INTEGER;
ALTER TABLE dock_syncs ADD COLUMN rate_limit_remaining INTEGER;
ALTER TABLE dock_syncs ADD COLUMN rate_limit_reset_at TEXT;
