-- A dock's concurrency limit shared by every replica (PostgresDockSlots):
-- one row per (dock, slot), slots 0..limit-1 created on first use. A free
-- slot has no holder (or a lapsed lease); taking one is an UPDATE of a row
-- picked with FOR UPDATE SKIP LOCKED. `token` (from a sequence) fences a
-- lapsed holder: its renewals and its release match no row once the slot
-- was taken again.
CREATE TABLE dock_slots (
    dock TEXT NOT NULL,
    slot INTEGER NOT NULL,
    holder TEXT,
    token BIGINT,
    expires_at TIMESTAMPTZ,
    PRIMARY KEY (dock, slot)
);
CREATE SEQUENCE dock_slot_tokens;
