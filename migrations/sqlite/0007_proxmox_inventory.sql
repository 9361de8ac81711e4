-- What Proxbox keeps of each Proxmox cluster itself (storage, backups, snapshots, tasks,
-- replication and backup jobs): one row per record, its JSON body beside the columns the
-- pages filter on. A resync with nothing changed in Proxmox writes no row here.
-- Kept column for column identical to migrations/postgres/0007_proxmox_inventory.sql.
CREATE TABLE proxmox_inventory (
    endpoint_id BIGINT NOT NULL REFERENCES proxmox_endpoints (id) ON DELETE CASCADE,
    -- storage | backup | snapshot | task | replication | backup-routine
    kind        TEXT   NOT NULL,
    -- storage: <node>/<storage>; backup: volid; snapshot: <qemu|lxc>/<vmid>/<name>;
    -- task: UPID; replication and backup-routine: the job id.
    record_key  TEXT   NOT NULL,
    node        TEXT,
    vmid        BIGINT,
    -- Unix seconds: a backup's creation, a snapshot's, a task's start.
    at          BIGINT,
    body        TEXT   NOT NULL,
    -- Milliseconds: when the record was stored or last changed.
    changed_at  BIGINT NOT NULL,
    -- Milliseconds: when a job was first found gone from Proxmox (kept, marked stale), and
    -- the last read before that which still found it.
    stale_since BIGINT,
    last_seen   BIGINT,
    PRIMARY KEY (endpoint_id, kind, record_key)
);
CREATE INDEX proxmox_inventory_guest ON proxmox_inventory (endpoint_id, kind, vmid);
CREATE INDEX proxmox_inventory_at ON proxmox_inventory (endpoint_id, kind, node, at);

-- When each kind was last read from each endpoint ("storage as of …", and a stale job's
-- last sighting).
CREATE TABLE proxmox_inventory_reads (
    endpoint_id BIGINT NOT NULL REFERENCES proxmox_endpoints (id) ON DELETE CASCADE,
    kind        TEXT   NOT NULL,
    read_at     BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, kind)
);
