-- Endpoints declared in a configuration file (`proxbox.toml`) carry its path: the pages
-- show them as managed by it and refuse to edit them, and applying the file again
-- removes those it no longer declares.
ALTER TABLE proxmox_endpoints ADD COLUMN managed_by TEXT;
ALTER TABLE netbox_endpoints ADD COLUMN managed_by TEXT;
