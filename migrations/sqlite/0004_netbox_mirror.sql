-- Proxbox's copy of the NetBox objects it reads at scale (VMs, disks, interfaces, MAC and IP
-- addresses), kept current through NetBox's change log so that a sync reads only what
-- changed. Only a cache: dropping it costs one full read.
-- Kept column for column identical to migrations/postgres/0004_netbox_mirror.sql.

CREATE TABLE netbox_mirror_state (
    -- NetBox's base URL.
    netbox         TEXT   PRIMARY KEY,
    -- Every change log entry up to this id is in the copy.
    settled_change BIGINT NOT NULL,
    -- Entries above it already in the copy, with when they were read: JSON [[from, to, at], …].
    -- (A slow transaction can still add lower ids for a while; they are read later.)
    recent_changes TEXT   NOT NULL,
    -- When the copy was last rebuilt from full reads (it is rebuilt when older than allowed).
    full_read_at   BIGINT NOT NULL,
    -- Raised by every save: a run saves only over the state it started from.
    version        BIGINT NOT NULL
);

CREATE TABLE netbox_mirror_objects (
    netbox      TEXT   NOT NULL,
    -- `virtualization.virtualmachine`, as the change log names it.
    object_type TEXT   NOT NULL,
    id          BIGINT NOT NULL,
    -- NetBox's JSON, with the fields Proxbox reads.
    body        TEXT   NOT NULL,
    PRIMARY KEY (netbox, object_type, id)
);

-- Which list filters the copy answers completely: `cluster_id` = 7 of VMs, …
CREATE TABLE netbox_mirror_coverage (
    netbox      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (netbox, object_type, field, value)
);
