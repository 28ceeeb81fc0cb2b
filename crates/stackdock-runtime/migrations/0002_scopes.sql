-- Which organisation owns each scope: claimed by the first apply, so a
-- principal of another organisation never sees (or touches) it.
CREATE TABLE scopes (
    scope      TEXT PRIMARY KEY NOT NULL,
    org        TEXT NOT NULL,
    created_at TEXT NOT NULL
);
