-- What Proxbox manages in NetBox: the identity of each Proxmox object and the NetBox object
-- it became. NetBox records the identity too (custom field `proxbox_identity`), so that a
-- lost Proxbox database re-adopts objects instead of duplicating them.
-- Kept column for column identical to migrations/sqlite/0002_sync_objects.sql.

CREATE TABLE sync_objects (
    endpoint_id   BIGINT NOT NULL REFERENCES proxmox_endpoints (id) ON DELETE CASCADE,
    -- NetBox model, as NetBox names it: `virtualization.virtualmachine`.
    model         TEXT   NOT NULL,
    -- `<cluster>/node/<name>`, `<cluster>/qemu/<vmid>`, `<cluster>/lxc/<vmid>`, …
    identity      TEXT   NOT NULL,
    netbox_id     BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    -- When the Proxmox object was first found gone (orphan deletion waits out a grace period).
    missing_since BIGINT,
    PRIMARY KEY (endpoint_id, model, identity)
);
CREATE INDEX sync_objects_netbox ON sync_objects (model, netbox_id);
