-- What the watcher saw change in each Proxmox endpoint, and the job it queued for it: the
-- dashboard's live feed and the endpoint's watch history. The newest 1,000 per endpoint are
-- kept. Kept column for column identical to migrations/postgres/0017_watched_changes.sql.
CREATE TABLE watched_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id BIGINT NOT NULL REFERENCES proxmox_endpoints (id) ON DELETE CASCADE,
    -- When the watcher's look saw it (ms).
    seen_at     BIGINT NOT NULL,
    -- For people: "web-1 moved pve1 → pve2 by alice@pve".
    change      TEXT   NOT NULL,
    -- The Proxmox task behind it ("qmigrate of 105 by alice@pve, UPID:…"), or the change.
    provenance  TEXT   NOT NULL,
    -- The job that carries it to NetBox; NULL when none could be queued.
    job_id      BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    -- Why no job carries it, when none does.
    problem     TEXT
);
CREATE INDEX watched_changes_endpoint ON watched_changes (endpoint_id, id);
