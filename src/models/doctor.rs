//! What `proxbox doctor` and the endpoint page's "Check permissions" find: per Proxmox
//! endpoint, what each stage can read with its token and which privilege (on which path)
//! it lacks; for NetBox, its version, the features Proxbox uses and the models the token may
//! not write. One table, read in the terminal and on the page.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorReport {
    pub proxmox: Vec<ProxmoxCheck>,
    pub netbox: Option<NetboxCheck>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxmoxCheck {
    pub endpoint_id: i64,
    pub endpoint: String,
    /// The token or user that logs in (never its secret).
    pub login: String,
    pub version: Option<String>,
    /// Why nothing could be checked (unreachable, refused login), with what to do.
    pub problem: Option<String>,
    pub stages: Vec<StageCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageReadiness {
    Ready,
    Partial,
    Blocked,
}

impl StageReadiness {
    /// As the table says it.
    pub fn word(self) -> &'static str {
        match self {
            StageReadiness::Ready => "yes",
            StageReadiness::Partial => "partly",
            StageReadiness::Blocked => "no",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageCheck {
    pub stage: String,
    pub readiness: StageReadiness,
    pub missing: Vec<MissingGrant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingGrant {
    /// What the stage cannot read without it.
    pub reads: String,
    /// "VM.GuestAgent.Audit on /vms (or VM.GuestAgent.Unrestricted on /vms)".
    pub grant: String,
    /// Paths below where the token holds it (some guests or storages only).
    pub only_on: Vec<String>,
}

impl MissingGrant {
    /// One line of the table's last column.
    pub fn line(&self) -> String {
        let partly = if self.only_on.is_empty() {
            String::new()
        } else {
            format!("; held on {} only", self.only_on.join(", "))
        };
        format!("{} — for {}{partly}", self.grant, self.reads)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetboxCheck {
    pub url: String,
    pub version: Option<String>,
    pub problem: Option<String>,
    pub features: Vec<NetboxFeature>,
    pub models: Vec<ModelRights>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetboxFeature {
    pub name: String,
    pub available: bool,
    /// What Proxbox does without it.
    pub note: String,
}

/// A NetBox model a sync writes, and whether the token may add and change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRights {
    pub model: String,
    pub stages: Vec<String>,
    pub add: bool,
    pub change: bool,
}

impl DoctorReport {
    /// Whether some stage of a full update cannot run: an endpoint not checked, a stage a
    /// token blocks, a NetBox not reached or a model its token may not write.
    pub fn blocks_a_full_update(&self) -> bool {
        let proxmox = self.proxmox.iter().any(|p| {
            p.problem.is_some()
                || p.stages
                    .iter()
                    .any(|s| s.readiness == StageReadiness::Blocked)
        });
        let netbox = self
            .netbox
            .as_ref()
            .is_none_or(|n| n.problem.is_some() || n.models.iter().any(|m| !m.add || !m.change));
        proxmox || netbox
    }

    /// The report as a terminal table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for p in &self.proxmox {
            out.push_str(&format!(
                "Proxmox {} ({}, {})\n",
                p.endpoint,
                p.version
                    .as_deref()
                    .map_or("version unknown".to_string(), |v| format!("PVE {v}")),
                p.login
            ));
            if let Some(problem) = &p.problem {
                out.push_str(&format!("  not checked: {problem}\n\n"));
                continue;
            }
            out.push_str(&format!("  {:<18} {:<7} {}\n", "STAGE", "CAN", "MISSING"));
            for s in &p.stages {
                let mut lines = s.missing.iter().map(MissingGrant::line);
                out.push_str(&format!(
                    "  {:<18} {:<7} {}\n",
                    s.stage,
                    s.readiness.word(),
                    lines.next().unwrap_or_default()
                ));
                for more in lines {
                    out.push_str(&format!("  {:<18} {:<7} {more}\n", "", ""));
                }
            }
            out.push('\n');
        }
        match &self.netbox {
            None => out.push_str("NetBox: no endpoint configured (add it on the endpoints page)\n"),
            Some(n) => {
                out.push_str(&format!(
                    "NetBox {} ({})\n",
                    n.version.as_deref().unwrap_or("version unknown"),
                    n.url
                ));
                if let Some(problem) = &n.problem {
                    out.push_str(&format!("  not checked: {problem}\n"));
                }
                for f in &n.features {
                    out.push_str(&format!(
                        "  {:<26} {:<4} {}\n",
                        f.name,
                        if f.available { "yes" } else { "no" },
                        f.note
                    ));
                }
                let refused: Vec<&ModelRights> =
                    n.models.iter().filter(|m| !m.add || !m.change).collect();
                if n.problem.is_none() && refused.is_empty() {
                    out.push_str("  the token may add and change every model a sync writes\n");
                }
                for m in refused {
                    let mut may_not = Vec::new();
                    if !m.add {
                        may_not.push("add");
                    }
                    if !m.change {
                        may_not.push("change");
                    }
                    out.push_str(&format!(
                        "  may not {} {} (needed by {})\n",
                        may_not.join(" or "),
                        m.model,
                        m.stages.join(", ")
                    ));
                }
            }
        }
        out
    }
}
