-- A job may be limited to one node or one guest of its endpoint (a node page's "Sync this
-- node", the VM panel's "Sync this guest"): `node:<name>` or `guest:<vmid>`; NULL: all.
-- Kept column for column identical in migrations/sqlite and migrations/postgres.
ALTER TABLE jobs ADD COLUMN target TEXT;
