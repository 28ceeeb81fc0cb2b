-- Inventory: what each dock has, as last listed, by (dock, kind, provider id).
CREATE TABLE inventory (
    dock                 TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    provider_resource_id TEXT NOT NULL,
    name                 TEXT NOT NULL,
    body                 TEXT NOT NULL,
    first_seen_at        TEXT NOT NULL,
    last_seen_at         TEXT NOT NULL,
    vanished_at          TEXT,
    PRIMARY KEY (dock, kind, provider_resource_id)
);

-- The last sync of each dock.
CREATE TABLE dock_syncs (
    dock            TEXT PRIMARY KEY NOT NULL,
    last_sync_at    TEXT,
    last_success_at TEXT,
    last_sync_error TEXT,
    items           INTEGER NOT NULL DEFAULT 0
);
