-- The processes that run jobs (`proxbox serve` with workers, `proxbox worker`), each
-- saying every few seconds how many workers it runs, by the database's clock: a job that
-- waits can say why (no worker anywhere, or every worker busy).
CREATE TABLE job_runners (
    instance TEXT PRIMARY KEY,
    workers  BIGINT NOT NULL,
    seen_at  BIGINT NOT NULL
);
