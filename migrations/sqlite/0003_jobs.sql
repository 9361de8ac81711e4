-- Sync jobs, their event logs, the per-endpoint run locks and the schedules.
-- Kept column for column identical to migrations/postgres/0003_jobs.sql.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT   NOT NULL,
    -- The requested stages, comma-separated (`full-update`, `devices,vm-disks`…).
    stages           TEXT   NOT NULL,
    -- Proxmox endpoint ids, comma-separated (also rows of job_endpoints, for locking).
    endpoint_ids     TEXT   NOT NULL,
    dry_run          BIGINT NOT NULL CHECK (dry_run IN (0, 1)),
    -- kind + stages + endpoints + dry run: a second request for an active scope attaches.
    scope_key        TEXT   NOT NULL,
    status           TEXT   NOT NULL
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    requested_by     TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    -- The `complete` payload, as JSON.
    result           TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    -- The instance running the job, and when it last said it is alive.
    claimed_by       TEXT,
    heartbeat_at     BIGINT,
    rerun_of         BIGINT,
    schedule_id      BIGINT
);
CREATE UNIQUE INDEX jobs_active_scope ON jobs (scope_key) WHERE status IN ('pending', 'running');
CREATE INDEX jobs_status ON jobs (status, id);

CREATE TABLE job_endpoints (
    job_id      BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    endpoint_id BIGINT NOT NULL,
    PRIMARY KEY (job_id, endpoint_id)
);

-- At most one running job per Proxmox endpoint: claiming a job inserts its rows here.
CREATE TABLE endpoint_locks (
    endpoint_id BIGINT PRIMARY KEY,
    job_id      BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE
);

CREATE TABLE job_events (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    name   TEXT   NOT NULL,
    data   TEXT   NOT NULL,
    at     BIGINT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE schedules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id   BIGINT NOT NULL UNIQUE REFERENCES proxmox_endpoints (id) ON DELETE CASCADE,
    stages        TEXT   NOT NULL,
    interval_secs BIGINT NOT NULL CHECK (interval_secs > 0),
    enabled       BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    next_run_at   BIGINT NOT NULL,
    last_job_id   BIGINT
);
