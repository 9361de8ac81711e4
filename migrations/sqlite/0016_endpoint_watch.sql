-- Whether the watcher follows this endpoint's changes (when it runs): on unless switched off
-- on the endpoint's page, with `proxbox endpoint add --no-watch` or `watch = false` in the
-- configuration file.
ALTER TABLE proxmox_endpoints ADD COLUMN watch BIGINT NOT NULL DEFAULT 1 CHECK (watch IN (0, 1));
