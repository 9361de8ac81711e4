-- How far back each node's stored task history is complete: every task of the node that
-- started at or after complete_from (Unix seconds) is stored. A read that stopped at its
-- cap leaves it above the retention cutoff, and later syncs read the gap below it until
-- it reaches the cutoff. Kept column for column identical to
-- migrations/postgres/0014_task_history_reach.sql.
CREATE TABLE task_history_reach (
    endpoint_id   BIGINT NOT NULL REFERENCES proxmox_endpoints (id) ON DELETE CASCADE,
    node          TEXT   NOT NULL,
    complete_from BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, node)
);
