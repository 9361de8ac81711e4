//! The typed reads the sync stages use, one method per Proxmox VE API path.

use serde_json::Value;

use crate::client::PveClient;
use crate::config::GuestConfig;
use crate::error::PveError;
use crate::lenient::{parse_list, parse_object, FromFields, Parsed};
use crate::sdn::*;
use crate::types::*;

/// Tasks are read in pages of this size (`start` / `limit` of `/nodes/{node}/tasks`).
const TASK_PAGE: usize = 500;

impl PveClient {
    fn list<T: FromFields>(&self, path: &str, data: &Value) -> Result<Parsed<Vec<T>>, PveError> {
        parse_list(data, path).map_err(|e| PveError::malformed(self.base_url(), path, e))
    }

    /// `GET /version`
    pub async fn version(&self) -> Result<Parsed<Version>, PveError> {
        let data = self.get_data("/version", &[]).await?;
        parse_object(&data, "/version")
            .map_err(|e| PveError::malformed(self.base_url(), "/version", e))
    }

    /// `GET /access/permissions`: the privileges of the token (or user) asking.
    pub async fn permissions(&self) -> Result<crate::Permissions, PveError> {
        let data = self.get_data("/access/permissions", &[]).await?;
        Ok(crate::Permissions::from_data(&data))
    }

    /// `GET /cluster/status`: the cluster entry (absent on a single node) and one entry per node.
    pub async fn cluster_status(&self) -> Result<Parsed<Vec<ClusterStatusEntry>>, PveError> {
        let data = self.get_data("/cluster/status", &[]).await?;
        self.list("/cluster/status", &data)
    }

    /// `GET /nodes`
    pub async fn nodes(&self) -> Result<Parsed<Vec<NodeEntry>>, PveError> {
        let data = self.get_data("/nodes", &[]).await?;
        self.list("/nodes", &data)
    }

    /// `GET /cluster/resources?type=vm`: every QEMU VM and LXC container of the cluster.
    pub async fn guests(&self) -> Result<Parsed<Vec<ClusterResource>>, PveError> {
        let data = self
            .get_data("/cluster/resources", &[("type", "vm".to_string())])
            .await?;
        let mut parsed: Parsed<Vec<ClusterResource>> = self.list("/cluster/resources", &data)?;
        // A guest whose VMID cannot be read is left out, and said so: the list is then not
        // every guest the cluster has.
        for (index, r) in parsed.value.iter().enumerate() {
            if r.guest_kind().is_some() && r.vmid.is_none() {
                parsed.warnings.push(crate::lenient::FieldWarning {
                    context: format!("/cluster/resources[{index}]"),
                    field: "vmid".into(),
                    message: "a guest without a readable VMID is left out".into(),
                });
            }
        }
        Ok(parsed.map(|all| {
            all.into_iter()
                .filter(|r| r.guest_kind().is_some() && r.vmid.is_some())
                .collect()
        }))
    }

    /// `GET /cluster/resources` (all types: nodes, guests, storage, SDN…).
    pub async fn cluster_resources(&self) -> Result<Parsed<Vec<ClusterResource>>, PveError> {
        let data = self.get_data("/cluster/resources", &[]).await?;
        self.list("/cluster/resources", &data)
    }

    /// `GET /nodes/{node}/qemu/{vmid}/config` or `GET /nodes/{node}/lxc/{vmid}/config`.
    pub async fn guest_config(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u64,
    ) -> Result<Parsed<GuestConfig>, PveError> {
        let path = format!("/nodes/{node}/{}/{vmid}/config", kind.as_str());
        let data = self.get_data(&path, &[]).await?;
        let Value::Object(object) = &data else {
            return Err(PveError::malformed(
                self.base_url(),
                &path,
                "expected an object",
            ));
        };
        let mut warnings = Vec::new();
        let config = GuestConfig::parse(
            kind,
            object,
            &format!("{}/{vmid} config", kind.as_str()),
            &mut warnings,
        );
        Ok(Parsed {
            value: config,
            warnings,
        })
    }

    /// `GET /nodes/{node}/network`: bridges, bonds, NICs, VLANs of a node.
    pub async fn node_network(&self, node: &str) -> Result<Parsed<Vec<NodeInterface>>, PveError> {
        let path = format!("/nodes/{node}/network");
        let data = self.get_data(&path, &[]).await?;
        self.list(&path, &data)
    }

    /// `GET /storage`: the names of the cluster's configured storages (the schema documents
    /// only the name; type, content and usage come per node).
    pub async fn storage_names(&self) -> Result<Parsed<Vec<String>>, PveError> {
        let data = self.get_data("/storage", &[]).await?;
        let parsed: Parsed<Vec<StorageName>> = self.list("/storage", &data)?;
        Ok(parsed.map(|all| all.into_iter().map(|s| s.storage).collect()))
    }

    /// `GET /nodes/{node}/storage`: the storages a node can use.
    pub async fn node_storages(&self, node: &str) -> Result<Parsed<Vec<NodeStorage>>, PveError> {
        let path = format!("/nodes/{node}/storage");
        let data = self.get_data(&path, &[]).await?;
        self.list(&path, &data)
    }

    /// `GET /nodes/{node}/storage/{storage}/content?content=…` (e.g. `backup`).
    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: Option<&str>,
        vmid: Option<u64>,
    ) -> Result<Parsed<Vec<StorageContent>>, PveError> {
        let path = format!("/nodes/{node}/storage/{storage}/content");
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(content) = content {
            query.push(("content", content.to_string()));
        }
        if let Some(vmid) = vmid {
            query.push(("vmid", vmid.to_string()));
        }
        let data = self.get_data(&path, &query).await?;
        self.list(&path, &data)
    }

    /// `GET /nodes/{node}/{qemu|lxc}/{vmid}/snapshot`, without the `current` pseudo-entry.
    pub async fn snapshots(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u64,
    ) -> Result<Parsed<Vec<Snapshot>>, PveError> {
        let path = format!("/nodes/{node}/{}/{vmid}/snapshot", kind.as_str());
        let data = self.get_data(&path, &[]).await?;
        let parsed: Parsed<Vec<Snapshot>> = self.list(&path, &data)?;
        Ok(parsed.map(|all| all.into_iter().filter(|s| s.name != "current").collect()))
    }

    /// `GET /nodes/{node}/tasks`, newest first, read page by page (`start` / `limit`) up to
    /// `max` tasks; the filter limits it to one guest's tasks or to tasks started at or
    /// after a time (`since`, for reading only what is new).
    pub async fn node_tasks(
        &self,
        node: &str,
        filter: TaskFilter,
        max: usize,
    ) -> Result<Parsed<Vec<Task>>, PveError> {
        let path = format!("/nodes/{node}/tasks");
        let mut all = Parsed {
            value: Vec::new(),
            warnings: Vec::new(),
        };
        let mut start = 0;
        while all.value.len() < max {
            let limit = TASK_PAGE.min(max - all.value.len());
            let mut query = vec![("start", start.to_string()), ("limit", limit.to_string())];
            if let Some(vmid) = filter.vmid {
                query.push(("vmid", vmid.to_string()));
            }
            if let Some(since) = filter.since {
                query.push(("since", since.to_string()));
            }
            if let Some(until) = filter.until {
                query.push(("until", until.to_string()));
            }
            let data = self.get_data(&path, &query).await?;
            let page_len = data.as_array().map_or(0, Vec::len);
            let page: Parsed<Vec<Task>> = self.list(&path, &data)?;
            all.value.extend(page.value);
            all.warnings.extend(page.warnings);
            start += page_len;
            if page_len < limit {
                break;
            }
        }
        Ok(all)
    }

    /// `GET /cluster/tasks`: the cluster's recent tasks, every node's, newest first — each
    /// node shares only its latest ones, so this is a window on what happened lately (a
    /// guest created, migrated, destroyed, started or stopped, with the user who did it).
    pub async fn cluster_tasks(&self) -> Result<Parsed<Vec<Task>>, PveError> {
        let data = self.get_data("/cluster/tasks", &[]).await?;
        self.list("/cluster/tasks", &data)
    }

    /// `GET /cluster/replication`
    pub async fn replication_jobs(&self) -> Result<Parsed<Vec<ReplicationJob>>, PveError> {
        let data = self.get_data("/cluster/replication", &[]).await?;
        self.list("/cluster/replication", &data)
    }

    /// `GET /cluster/sdn/zones`
    pub async fn sdn_zones(&self) -> Result<Parsed<Vec<SdnZone>>, PveError> {
        let data = self.get_data("/cluster/sdn/zones", &[]).await?;
        self.list("/cluster/sdn/zones", &data)
    }

    /// `GET /cluster/sdn/vnets`
    pub async fn sdn_vnets(&self) -> Result<Parsed<Vec<SdnVnet>>, PveError> {
        let data = self.get_data("/cluster/sdn/vnets", &[]).await?;
        self.list("/cluster/sdn/vnets", &data)
    }

    /// `GET /cluster/sdn/vnets/{vnet}/subnets`
    pub async fn sdn_subnets(&self, vnet: &str) -> Result<Parsed<Vec<SdnSubnet>>, PveError> {
        let path = format!("/cluster/sdn/vnets/{vnet}/subnets");
        let data = self.get_data(&path, &[]).await?;
        self.list(&path, &data)
    }

    /// `GET /cluster/ha/resources`
    pub async fn ha_resources(&self) -> Result<Parsed<Vec<HaResource>>, PveError> {
        let data = self.get_data("/cluster/ha/resources", &[]).await?;
        self.list("/cluster/ha/resources", &data)
    }

    /// `GET /cluster/ha/status/current`
    pub async fn ha_status(&self) -> Result<Parsed<Vec<HaStatusEntry>>, PveError> {
        let data = self.get_data("/cluster/ha/status/current", &[]).await?;
        self.list("/cluster/ha/status/current", &data)
    }

    /// `GET /cluster/backup`
    pub async fn backup_jobs(&self) -> Result<Parsed<Vec<BackupJob>>, PveError> {
        let data = self.get_data("/cluster/backup", &[]).await?;
        self.list("/cluster/backup", &data)
    }

    /// `GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces` (guest-agent timeout).
    pub async fn agent_interfaces(
        &self,
        node: &str,
        vmid: u64,
    ) -> Result<Parsed<Vec<AgentInterface>>, PveError> {
        let path = format!("/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces");
        let data = self.agent_data(&path).await?;
        let result = data.get("result").cloned().unwrap_or(Value::Null);
        self.list(&path, &result)
    }

    /// `GET /nodes/{node}/qemu/{vmid}/agent/get-osinfo` (guest-agent timeout): the OS the
    /// guest agent reports; `None` when its answer names none (an agent too old for the
    /// command answers with an error object instead of a result).
    pub async fn agent_os_info(
        &self,
        node: &str,
        vmid: u64,
    ) -> Result<Option<AgentOsInfo>, PveError> {
        let path = format!("/nodes/{node}/qemu/{vmid}/agent/get-osinfo");
        let data = self.agent_data(&path).await?;
        Ok(data.get("result").and_then(AgentOsInfo::from_result))
    }

    /// `GET /nodes/{node}/qemu/{vmid}/agent/get-host-name` (guest-agent timeout).
    pub async fn agent_host_name(&self, node: &str, vmid: u64) -> Result<Option<String>, PveError> {
        let path = format!("/nodes/{node}/qemu/{vmid}/agent/get-host-name");
        let data = self.agent_data(&path).await?;
        Ok(data
            .pointer("/result/host-name")
            .and_then(crate::lenient::as_string))
    }
}
