-- The newest change log entry the copy of NetBox has followed, as "id time": a NetBox
-- restored from a backup reuses entry ids, so the id alone cannot tell that the log was
-- rewritten; the entry's time can. Empty: not known yet (the next save records it).
-- Kept column for column identical to migrations/postgres/0015_mirror_cursor_entry.sql.
ALTER TABLE netbox_mirror_state ADD COLUMN cursor_entry TEXT NOT NULL DEFAULT '';
