-- Which NetBox tags Proxbox itself added to each VM (from the guest's Proxmox tags, JSON
-- array of slugs): a tag removed in Proxmox is removed from the VM only if it is one of
-- them, so that a tag an operator added in NetBox is never taken away. NULL: none.
-- Kept column for column identical to migrations/postgres/0006_guest_tags_mirror_shape.sql.
ALTER TABLE sync_objects ADD COLUMN added_tags TEXT;

-- The fields the copy of NetBox keeps per model. A copy built by a Proxbox that read fewer
-- fields is rebuilt from full reads instead of being compared against bodies that lack them;
-- '' (every copy stored before this column) never matches.
ALTER TABLE netbox_mirror_state ADD COLUMN shape TEXT NOT NULL DEFAULT '';
