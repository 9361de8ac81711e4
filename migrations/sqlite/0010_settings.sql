-- Settings edited in the browser, the record of their changes, cron schedules (several
-- per endpoint, one per stage set) and a per-run choice on orphan deletion.
-- Kept column for column identical in migrations/sqlite and migrations/postgres.

-- A setting's value as the settings page stores it; a setting without a row has its
-- default (or the value its flag or environment variable gives, which always wins).
CREATE TABLE settings (
    name       TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT   NOT NULL
);

-- Who changed what, when, from what to what (settings and schedules alike). NULL values:
-- the default, or a schedule that did not exist before or does not after.
CREATE TABLE setting_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT   NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    changed_by TEXT   NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX setting_changes_at ON setting_changes (changed_at);

-- SQLite cannot drop a column constraint: the schedules table is rebuilt without the
-- one-per-endpoint rule, with either an interval or a cron expression.
CREATE TABLE schedules_v10 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id   BIGINT NOT NULL REFERENCES proxmox_endpoints (id) ON DELETE CASCADE,
    stages        TEXT   NOT NULL,
    interval_secs BIGINT CHECK (interval_secs > 0),
    enabled       BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    next_run_at   BIGINT NOT NULL,
    last_job_id   BIGINT,
    -- Five-field cron expression, evaluated in UTC; NULL: every interval_secs.
    cron          TEXT,
    CONSTRAINT schedules_one_rule CHECK ((interval_secs IS NULL) <> (cron IS NULL)),
    CONSTRAINT schedules_endpoint_stages UNIQUE (endpoint_id, stages)
);
INSERT INTO schedules_v10 (id, endpoint_id, stages, interval_secs, enabled, next_run_at, last_job_id)
    SELECT id, endpoint_id, stages, interval_secs, enabled, next_run_at, last_job_id FROM schedules;
DROP TABLE schedules;
ALTER TABLE schedules_v10 RENAME TO schedules;

-- 1 or 0: the run deletes orphans or not, whatever the setting says; NULL: the setting.
ALTER TABLE jobs ADD COLUMN delete_orphans BIGINT CHECK (delete_orphans IN (0, 1));
