//! The real `proxbox` binary as a bench's server: a fresh data directory whose database
//! knows one Proxmox endpoint (a simulator), the NetBox of `scripts/netbox-up`, an admin and
//! an admin API key; started in a process of its own, so that its memory is its own, and
//! killed however the bench ends (each bench includes this file with `#[path]`).

use std::time::{Duration, Instant};

use proxbox::models::{NetboxEndpointInput, ProxmoxCredentials, ProxmoxEndpointInput, Role, Scope};
use proxbox::server::infra::crypto::SecretBox;
use proxbox::server::infra::db::Db;

use super::peers::{free_port, netbox_env};

const KEY: &str = "abababababababababababababababababababababababababababababababab";
pub const ADMIN_PASSWORD: &str = "bench-admin-password";

pub struct BenchServer {
    pub base: String,
    #[allow(dead_code)]
    pub port: u16,
    pub pid: u32,
    /// An API key with the admin scope.
    pub key: String,
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

impl BenchServer {
    /// Starts the server on the simulator `sim` (as endpoint `name`), with `env` on top of
    /// the defaults, and waits until it answers.
    pub async fn start(sim: &pve_sim::RunningSim, name: &str, env: &[(&str, &str)]) -> BenchServer {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!(
            "sqlite://{}",
            dir.path().join("proxbox.db").display()
        ))
        .await
        .unwrap();
        let secrets = SecretBox::from_key_text(KEY).unwrap();
        let c = sim.credentials();
        db.insert_proxmox_endpoint(
            &ProxmoxEndpointInput {
                name: name.to_string(),
                url: sim.http_url.clone().unwrap(),
                credentials: ProxmoxCredentials::Token {
                    token_id: c.token_id.clone(),
                    secret: Some(c.token_secret.clone()),
                },
                verify_tls: true,
                ca_pem: None,
                timeout_secs: 30,
                enabled: true,
                watch: true,
            },
            &secrets,
        )
        .await
        .unwrap();
        db.save_netbox_endpoint(
            &NetboxEndpointInput {
                url: netbox_env("NETBOX_URL"),
                token: Some(netbox_env("NETBOX_TOKEN")),
                verify_tls: true,
                ca_pem: None,
                timeout_secs: 300,
            },
            &secrets,
        )
        .await
        .unwrap();
        let hash = proxbox::server::services::credentials::hash_password(ADMIN_PASSWORD.into())
            .await
            .unwrap();
        db.create_user("admin", &hash, Role::Admin, false)
            .await
            .unwrap();
        let key =
            proxbox::server::services::credentials::create_api_key(&db, "bench", &[Scope::Admin])
                .await
                .unwrap();
        db.close().await;

        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_proxbox"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("PROXBOX_DATA_DIR", dir.path())
            .env("PROXBOX_SECRET_KEY", KEY)
            .env("PROXBOX_LOG", "warn")
            .env_remove("PROXBOX_DATABASE_URL")
            .stdout(std::process::Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap();
        let server = BenchServer {
            base,
            port,
            pid: child.id(),
            key,
            dir,
            child,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while http
            .get(format!("{}/health", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// The server's resident memory now and at its peak, in MB (Linux `VmRSS`, `VmHWM`).
    pub fn rss_mb(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let read = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (read("VmRSS:"), read("VmHWM:"))
    }

    /// Starts a full update through the API; the job's id.
    pub async fn start_full_update(&self) -> i64 {
        let started: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/sync/full-update", self.base))
            .header("x-proxbox-api-key", &self.key)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        started["job_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no job: {started}"))
    }

    /// Job `job_id`'s status once it ended, sampling the server's memory meanwhile; and the
    /// highest resident memory sampled (MB).
    pub async fn wait_for_job(&self, job_id: i64) -> (String, f64) {
        let http = reqwest::Client::new();
        let mut peak = 0f64;
        loop {
            peak = peak.max(self.rss_mb().0);
            let job: serde_json::Value = http
                .get(format!("{}/api/job?id={job_id}", self.base))
                .header("x-proxbox-api-key", &self.key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap_or_default();
            if let Some(status) = job["job"]["status"]
                .as_str()
                .filter(|s| ["completed", "failed", "cancelled"].contains(s))
            {
                return (status.to_string(), peak);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops the server (its database stays in `dir` for the bench to read).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        self.stop();
    }
}
