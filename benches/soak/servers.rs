//! The Proxbox servers of the soak: the real binary, one on SQLite or two on one
//! PostgreSQL database, killed and restarted as the cycles say.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proxbox::models::{NetboxEndpointInput, ProxmoxCredentials, ProxmoxEndpointInput, Scope};
use proxbox::server::infra::crypto::SecretBox;
use proxbox::server::infra::db::Db;
use proxbox_netbox::models::IpAddress;
use proxbox_netbox::{NetboxClient, NetboxOptions};
use pve_sim::model::Rng;

use super::netbox_cleanup::delete_listed;
use super::peers::{free_port, netbox_env};

const KEY: &str = "abababababababababababababababababababababababababababababababab";
const ADMIN_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn netbox() -> NetboxClient {
    let mut options = NetboxOptions::new(netbox_env("NETBOX_URL"), netbox_env("NETBOX_TOKEN"));
    options.timeout = Duration::from_secs(300);
    NetboxClient::new(options).unwrap()
}

/// Removes the addresses of the soak's ranges (the simulator's and the changed ones), which
/// outlive the VMs that held them.
pub async fn forget_addresses(netbox: &NetboxClient) {
    for range in ["10.241.0.0/16", "10.242.0.0/16", "fd00:18d::/32"] {
        delete_listed::<IpAddress>(netbox, &[("parent", range.to_string())]).await;
    }
}

/// The databases the servers run on, each with the simulator, NetBox (behind the fault
/// proxy) and an API key in it.
pub struct Setup {
    dir: tempfile::TempDir,
    sqlite: (String, String),
    /// Created empty: the pair of instances migrates it, both at once.
    postgres_url: String,
    postgres_name: String,
}

impl Setup {
    pub async fn new(sim: &pve_sim::RunningSim, netbox_url: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let sqlite_url = format!("sqlite://{}", dir.path().join("proxbox.db").display());
        let postgres_name = format!("proxbox_soak_{}", std::process::id());
        let admin = Db::connect(ADMIN_POSTGRES).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {postgres_name}"))
            .execute(admin.pool())
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {postgres_name}"))
            .execute(admin.pool())
            .await
            .unwrap();
        admin.close().await;
        let postgres_url = format!("postgres://postgres@127.0.0.1:5432/{postgres_name}");
        let sqlite_key = prepare(&sqlite_url, sim, netbox_url).await;
        Setup {
            dir,
            sqlite: (sqlite_url, sqlite_key),
            postgres_url,
            postgres_name,
        }
    }

    pub async fn drop_database(&self) {
        let admin = Db::connect(ADMIN_POSTGRES).await.unwrap();
        let _ = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.postgres_name
        ))
        .execute(admin.pool())
        .await;
        admin.close().await;
    }
}

async fn prepare(url: &str, sim: &pve_sim::RunningSim, netbox_url: &str) -> String {
    let db = Db::connect(url).await.unwrap();
    let secrets = SecretBox::from_key_text(KEY).unwrap();
    let c = sim.credentials();
    db.insert_proxmox_endpoint(
        &ProxmoxEndpointInput {
            name: "soak".into(),
            url: sim.http_url.clone().unwrap(),
            credentials: ProxmoxCredentials::Token {
                token_id: c.token_id.clone(),
                secret: Some(c.token_secret.clone()),
            },
            verify_tls: true,
            ca_pem: None,
            // Short, so that a hang costs seconds, not minutes.
            timeout_secs: 5,
            enabled: true,
            watch: true,
        },
        &secrets,
    )
    .await
    .unwrap();
    db.save_netbox_endpoint(
        &NetboxEndpointInput {
            url: netbox_url.to_string(),
            token: Some(netbox_env("NETBOX_TOKEN")),
            verify_tls: true,
            ca_pem: None,
            timeout_secs: 20,
        },
        &secrets,
    )
    .await
    .unwrap();
    let key = proxbox::server::services::credentials::create_api_key(&db, "soak", &[Scope::Admin])
        .await
        .unwrap();
    db.close().await;
    key
}

struct Instance {
    child: std::process::Child,
    port: u16,
    data_dir: PathBuf,
}

impl Instance {
    fn spawn(data_dir: &Path, database_url: &str, port: u16) -> Instance {
        std::fs::create_dir_all(data_dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_proxbox"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("PROXBOX_DATA_DIR", data_dir)
            .env("PROXBOX_DATABASE_URL", database_url)
            .env("PROXBOX_SECRET_KEY", KEY)
            .env("PROXBOX_WORKERS", "1")
            .env("PROXBOX_DELETE_ORPHANS", "true")
            .env("PROXBOX_ORPHAN_GRACE_HOURS", "0")
            .env("PROXBOX_LOG", "warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Instance {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// No server outlives the soak, however it ends (a failed assertion included).
impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running servers and the database they share.
pub struct Instances {
    running: Vec<Instance>,
    database_url: String,
    key: String,
    db: Db,
    client: reqwest::Client,
}

impl Instances {
    pub async fn single(setup: &Setup) -> Instances {
        Instances::start(setup, &setup.sqlite, &["sqlite"]).await
    }

    /// Two instances started at once on the empty PostgreSQL database (both migrate it);
    /// then the simulator, NetBox and a key are put into it.
    pub async fn pair_on_postgres(
        setup: &Setup,
        sim: &pve_sim::RunningSim,
        netbox_url: &str,
    ) -> Instances {
        let url = setup.postgres_url.clone();
        let mut pair =
            Instances::start(setup, &(url.clone(), String::new()), &["pg-a", "pg-b"]).await;
        pair.key = prepare(&url, sim, netbox_url).await;
        pair
    }

    async fn start(setup: &Setup, (url, key): &(String, String), names: &[&str]) -> Instances {
        let running: Vec<Instance> = names
            .iter()
            .map(|name| Instance::spawn(&setup.dir.path().join(name), url, free_port()))
            .collect();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        // Ready before the soak connects: the instances migrate the database themselves.
        for instance in &running {
            wait_ready(&client, instance).await;
        }
        Instances {
            running,
            database_url: url.clone(),
            key: key.clone(),
            db: Db::connect(url).await.unwrap(),
            client,
        }
    }

    pub fn key(&self) -> String {
        self.key.clone()
    }

    pub fn bases(&self) -> Vec<String> {
        self.running.iter().map(Instance::base).collect()
    }

    /// A full update through the first instance that answers.
    pub async fn start_full_update(&self) -> i64 {
        for base in self.bases().iter().cycle().take(20) {
            let answer = self
                .client
                .post(format!("{base}/sync/full-update"))
                .header("x-proxbox-api-key", &self.key)
                .json(&serde_json::json!({}))
                .send()
                .await;
            if let Ok(answer) = answer {
                let body: serde_json::Value = answer.json().await.unwrap_or_default();
                if let Some(id) = body["job_id"].as_i64() {
                    return id;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("no instance starts a sync");
    }

    /// `kill -9` of one instance, then its restart on the same database.
    pub async fn kill_one(&mut self, rng: &mut Rng) {
        let index = rng.range(0, self.running.len() as u64 - 1) as usize;
        let instance = &mut self.running[index];
        instance.child.kill().unwrap();
        instance.child.wait().unwrap();
        let (dir, port) = (instance.data_dir.clone(), instance.port);
        *instance = Instance::spawn(&dir, &self.database_url, port);
        wait_ready(&self.client, &self.running[index]).await;
    }

    /// Whether the job is pending or running now.
    pub async fn is_active(&self, job_id: i64) -> bool {
        let row = self.db.job(job_id).await.unwrap().expect("the job exists");
        !["completed", "failed", "cancelled"].contains(&row.status.as_str())
    }

    /// The job's status once it is terminal.
    pub async fn wait_until_ended(&self, job_id: i64) -> String {
        let deadline = Instant::now() + Duration::from_secs(900);
        loop {
            let row = self.db.job(job_id).await.unwrap().expect("the job exists");
            if ["completed", "failed", "cancelled"].contains(&row.status.as_str()) {
                return row.status;
            }
            assert!(Instant::now() < deadline, "job {job_id} did not end");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The job's log as stored: `(seq, event name)` in order.
    /// Proxbox's own records of `kind` (the soak's database holds one endpoint).
    pub async fn records(
        &self,
        kind: proxbox::models::RecordKind,
    ) -> Vec<proxbox::server::infra::db::inventory::StoredRecord> {
        let records = self.db.inventory_everywhere(kind).await.unwrap();
        records.into_iter().map(|(_, record)| record).collect()
    }

    pub async fn log_of(&self, job_id: i64) -> Vec<(i64, String)> {
        self.db
            .job_events_after(job_id, 0, i64::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.seq, e.name))
            .collect()
    }

    pub async fn result_of(&self, job_id: i64) -> String {
        let row = self.db.job(job_id).await.unwrap().expect("the job exists");
        row.result.unwrap_or_default().chars().take(600).collect()
    }

    /// SIGTERM to every instance, as a service manager stops them.
    pub async fn stop(mut self) {
        for instance in &mut self.running {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &instance.child.id().to_string()])
                .status();
            let _ = instance.child.wait();
        }
        self.db.close().await;
    }
}

/// Waits until the instance answers `/health`; its log says why when it does not.
async fn wait_ready(client: &reqwest::Client, instance: &Instance) {
    let base = instance.base();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/health")).send().await.is_err() {
        if Instant::now() > deadline {
            let log = instance.data_dir.join("server.log");
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("the server at {base} did not start:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
