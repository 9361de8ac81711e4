-- The stages take the names of the system Proxbox replaces: vm-disks is virtual-disks,
-- ip-addresses is vm-ip-addresses. The old names stay accepted everywhere; stored schedules
-- and waiting jobs take the new ones, so that a request by either name finds the same job.
UPDATE schedules
SET stages = REPLACE(REPLACE(stages, 'vm-disks', 'virtual-disks'), 'ip-addresses', 'vm-ip-addresses');

UPDATE jobs
SET stages = REPLACE(REPLACE(stages, 'vm-disks', 'virtual-disks'), 'ip-addresses', 'vm-ip-addresses'),
    scope_key = REPLACE(REPLACE(scope_key, 'vm-disks', 'virtual-disks'), 'ip-addresses', 'vm-ip-addresses')
WHERE status IN ('pending', 'running');
