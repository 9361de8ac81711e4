//! The answers recorded from real Proxmox VE servers (PVE 6.0 to 9.0, collected by public
//! projects for their own tests), which tests read from the workspace's shared data beside
//! the repository — never copied into it. Their README's table is the list of cases.

use std::path::{Path, PathBuf};

/// Where the recorded bodies are: `PROXBOX_REAL_PVE_DIR` when set, else
/// `../shared/data/real-pve` from the repository's root, else the workspace's
/// `/work/shared/data/real-pve` (a clone made elsewhere on the same machine). Missing, the
/// test fails saying where it looked.
pub fn recorded_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROXBOX_REAL_PVE_DIR") {
        return PathBuf::from(dir);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real-pve");
    let workspace = PathBuf::from("/work/shared/data/real-pve");
    if !beside.exists() && workspace.exists() {
        return workspace;
    }
    beside
}

/// One recorded body: its file, and the request it answered as the README names it
/// (`GET /nodes/{node}/qemu/{vmid}/config`).
#[derive(Debug, Clone)]
pub struct Case {
    pub file: String,
    pub endpoint: String,
}

/// The README's table: `| file | source | path in it | endpoint | PVE | realness | envelope |`.
pub fn cases(dir: &Path) -> Vec<Case> {
    let readme = dir.join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap_or_else(|e| {
        panic!(
            "the recorded Proxmox answers are missing ({}: {e}); they come with the \
             workspace's shared data, beside the repository (or set PROXBOX_REAL_PVE_DIR)",
            readme.display()
        )
    });
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (file, endpoint) = (cells.get(1)?, cells.get(4)?);
            file.ends_with(".json").then(|| Case {
                file: file.to_string(),
                endpoint: endpoint.to_string(),
            })
        })
        .collect()
}

/// Each case's body, parsed, with its case; a body that is not JSON fails naming its file.
pub fn bodies(dir: &Path) -> Vec<(Case, serde_json::Value)> {
    cases(dir)
        .into_iter()
        .map(|case| {
            let text = std::fs::read_to_string(dir.join(&case.file))
                .unwrap_or_else(|e| panic!("{}: {e}", case.file));
            let body = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", case.file));
            (case, body)
        })
        .collect()
}
