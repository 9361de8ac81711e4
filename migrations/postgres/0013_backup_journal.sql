-- The backup volumes NetBox has a journal entry for: written once per volume, ever. A
-- backup that vanishes for a while and comes back, or is removed and found again, gets no
-- second entry. Kept column for column identical to migrations/sqlite/0013_backup_journal.sql.
CREATE TABLE backup_journal (
    endpoint_id BIGINT NOT NULL REFERENCES proxmox_endpoints (id) ON DELETE CASCADE,
    volid       TEXT   NOT NULL,
    -- Milliseconds.
    written_at  BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, volid)
);

-- The backups stored before this table existed had their entry when they were stored.
INSERT INTO backup_journal (endpoint_id, volid, written_at)
SELECT endpoint_id, record_key, changed_at FROM proxmox_inventory WHERE kind = 'backup';
