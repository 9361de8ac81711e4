//! Load: the real binary (this profile's build) syncing 1,000 simulated guests into the
//! real NetBox while 500 clients use it at once: event streams of the job, dashboard
//! sockets, page loads (dashboard, job page, job list) and sync form posts (which attach
//! to the running job). Every answer must be right (status, a stream that ends with
//! `complete`); it prints page latency percentiles and the server's peak memory.
//!
//! `make bench` runs it against `scripts/netbox-up`'s NetBox; `BENCH_CLIENTS` and
//! `BENCH_VMS` scale it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use proxbox::server::infra::db::Db;
use proxbox_netbox::{NetboxClient, NetboxOptions};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[path = "common/peers.rs"]
mod peers;
use peers::netbox_env;

#[path = "common/server.rs"]
mod server;
use server::{BenchServer, ADMIN_PASSWORD};

#[path = "../tests/common/netbox_cleanup.rs"]
mod netbox_cleanup;

#[path = "common/targets.rs"]
mod targets;
use targets::Targets;

fn env_number(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1_000)
        .build()
        .unwrap()
}

/// The CSRF token of `client`'s browser session (it changes at login).
async fn csrf_of(client: &reqwest::Client, base: &str) -> String {
    let session: serde_json::Value = client
        .get(format!("{base}/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["csrf"].as_str().unwrap().to_string()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Page and form latencies in microseconds.
    latencies: Mutex<Vec<u64>>,
    errors: Mutex<Vec<String>>,
    requests: AtomicU64,
    frames: AtomicU64,
    /// The frames each job stream received, to compare with the job's log.
    stream_frames: Mutex<Vec<u64>>,
    socket_messages: AtomicU64,
    /// Every error, counted (only the first 20 are kept to print).
    error_count: AtomicU64,
}

impl Seen {
    fn error(&self, what: String) {
        self.error_count.fetch_add(1, Ordering::Relaxed);
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 20 {
            errors.push(what);
        }
    }
}

/// Whether a page was sent whole and with its content: the document's end, and no part
/// that failed in its place.
fn carries_its_content(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains("</html>") && !text.contains("could not be shown") && text.contains("<main")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clients = env_number("BENCH_CLIENTS", 500);
    let guests = env_number("BENCH_VMS", 1000);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 0xfffff;
    let name = format!("bload{stamp:x}");
    let sim = pve_sim::start(pve_sim::SimOptions::local(pve_sim::ClusterSpec {
        seed: 140,
        name: name.clone(),
        index: 140,
        nodes: 3,
        guests,
        history: Default::default(),
    }))
    .await
    .unwrap();

    let mut server = BenchServer::start(&sim, &name, &[]).await;
    let (base, port, key) = (server.base.clone(), server.port, server.key.clone());
    let admin = client();
    let (idle_rss, _) = server.rss_mb();
    let csrf = csrf_of(&admin, &base).await;
    let login = admin
        .post(format!("{base}/api/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success() || login.status().is_redirection());
    // Logging in gives the browser a new CSRF token; the forms carry that one.
    let csrf = csrf_of(&admin, &base).await;

    let began = Instant::now();
    let job_id = server.start_full_update().await;

    let seen = Arc::new(Seen::default());
    let (ended, until_end) = watch::channel(false);
    let streams = clients * 3 / 10;
    let sockets = clients * 2 / 10;
    let posters = clients / 10;
    let readers = clients - streams - sockets - posters;
    let mut tasks = tokio::task::JoinSet::new();
    let plain = client();
    for _ in 0..streams {
        let (client, base, key, seen) = (plain.clone(), base.clone(), key.clone(), seen.clone());
        tasks.spawn(async move {
            let response = client
                .get(format!("{base}/jobs/{job_id}/stream"))
                .header("x-proxbox-api-key", &key)
                .send()
                .await;
            let mut body = match response {
                Ok(r) if r.status() == 200 => r,
                other => return seen.error(format!("stream: {other:?}")),
            };
            // Counted as it arrives (150 streams of a 1,000-guest job are gigabytes): the
            // frames' `id:` lines, and the `complete` frame, which may straddle two chunks.
            let (mut frames, mut complete, mut carry) = (0u64, false, String::new());
            // The first frame opens the body: no newline before its `id:`.
            let mut first = true;
            loop {
                match body.chunk().await {
                    Ok(Some(bytes)) => {
                        if first && bytes.starts_with(b"id: ") {
                            frames += 1;
                        }
                        first = false;
                        let text = format!("{carry}{}", String::from_utf8_lossy(&bytes));
                        frames += text.matches("\nid: ").count() as u64;
                        complete |= text.contains("event: complete");
                        let keep = text.len().saturating_sub(32);
                        let keep = (keep..=text.len())
                            .find(|i| text.is_char_boundary(*i))
                            .unwrap_or(text.len());
                        carry = text[keep..].to_string();
                        // A frame split after its newline would count twice; drop it.
                        if carry.contains("\nid: ") {
                            frames -= carry.matches("\nid: ").count() as u64;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return seen.error(format!("stream broke: {e}")),
                }
            }
            seen.frames.fetch_add(frames, Ordering::Relaxed);
            seen.stream_frames.lock().unwrap().push(frames);
            if !complete {
                seen.error("a stream ended without complete".into());
            }
        });
    }
    for _ in 0..sockets {
        let (port, key, seen, mut until_end) = (port, key.clone(), seen.clone(), until_end.clone());
        tasks.spawn(async move {
            let mut request = format!("ws://127.0.0.1:{port}/ws")
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("X-Proxbox-API-Key", key.parse().unwrap());
            let mut socket = match tokio_tungstenite::connect_async(request).await {
                Ok((socket, _)) => socket,
                Err(e) => return seen.error(format!("socket: {e}")),
            };
            loop {
                tokio::select! {
                    message = socket.next() => match message {
                        Some(Ok(_)) => { seen.socket_messages.fetch_add(1, Ordering::Relaxed); }
                        other => return seen.error(format!("socket ended early: {other:?}")),
                    },
                    _ = until_end.wait_for(|ended| *ended) => return,
                }
            }
        });
    }
    let pages = [
        "/".to_string(),
        format!("/jobs/{job_id}"),
        "/jobs".to_string(),
        format!("/jobs/{job_id}?failures=1"),
    ];
    for index in 0..readers + posters {
        let posting = index >= readers;
        let (client, base, csrf, seen) = (admin.clone(), base.clone(), csrf.clone(), seen.clone());
        let (pages, until_end) = (pages.clone(), until_end.clone());
        tasks.spawn(async move {
            let mut round = index;
            while !*until_end.borrow() {
                round += 1;
                // A person's pace: a page or a click every second or two.
                tokio::time::sleep(Duration::from_millis(1_000 + (round as u64 * 7919) % 1_000))
                    .await;
                let sent = Instant::now();
                let (what, result) = if posting {
                    let response = client
                        .post(format!("{base}/sync/full-update"))
                        .form(&[("csrf", csrf.as_str())])
                        .send()
                        .await;
                    ("sync form", response.map(|r| (r.status(), 303)))
                } else {
                    let page = &pages[round % pages.len()];
                    let response = client.get(format!("{base}{page}")).send().await;
                    let response = match response {
                        Ok(r) => {
                            let status = r.status();
                            match r.bytes().await {
                                Ok(body) if status == 200 && !carries_its_content(&body) => {
                                    seen.error(format!("page {page}: sent without its content"));
                                    continue;
                                }
                                other => other.map(|_| (status, 200)),
                            }
                        }
                        Err(e) => Err(e),
                    };
                    ("page", response)
                };
                seen.requests.fetch_add(1, Ordering::Relaxed);
                match result {
                    Ok((status, expected)) if status.as_u16() == expected => seen
                        .latencies
                        .lock()
                        .unwrap()
                        .push(sent.elapsed().as_micros() as u64),
                    other => seen.error(format!("{what}: {other:?}")),
                }
            }
        });
    }

    // Until the job ends: sample the server's memory.
    let (status, peak_sampled) = server.wait_for_job(job_id).await;
    let sync_secs = began.elapsed().as_secs_f64();
    let _ = ended.send(true);
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            seen.error(format!("a client panicked: {e}"));
        }
    }
    let (_, peak) = server.rss_mb();
    server.stop();

    let mut latencies = seen.latencies.lock().unwrap().clone();
    latencies.sort_unstable();
    let errors = seen.errors.lock().unwrap().clone();
    println!("| Load: {clients} clients ({streams} job streams, {sockets} sockets, {readers} page readers, {posters} sync form posters) during a full update of 3 nodes, {guests} guests | value |");
    println!("|---|---|");
    println!("| job | {status} in {sync_secs:.1} s |");
    println!("| pages and form posts answered | {} |", latencies.len());
    println!("| page latency p50 / p90 / p99 / max | {:.1} / {:.1} / {:.1} / {:.1} ms (target p99 under 200 ms) |",
        percentile(&latencies, 0.5), percentile(&latencies, 0.9), percentile(&latencies, 0.99),
        latencies.last().map_or(f64::NAN, |m| *m as f64 / 1000.0));
    println!(
        "| stream frames received / socket messages | {} / {} |",
        seen.frames.load(Ordering::Relaxed),
        seen.socket_messages.load(Ordering::Relaxed)
    );
    let error_count = seen.error_count.load(Ordering::Relaxed);
    println!(
        "| errors | {} of {} requests |",
        error_count,
        seen.requests.load(Ordering::Relaxed) + (streams + sockets) as u64
    );
    // What the job logged, from the server's database once the server is gone.
    let db = Db::connect(&format!(
        "sqlite://{}",
        server.dir.path().join("proxbox.db").display()
    ))
    .await
    .unwrap();
    let logged = db.job_last_seq(job_id).await.unwrap() as u64;
    db.close().await;
    let stream_frames = seen.stream_frames.lock().unwrap().clone();
    let whole_streams = stream_frames.iter().filter(|f| **f == logged).count();
    println!("| job streams that received every one of the job's {logged} events | {whole_streams} of {streams} |");
    println!(
        "| server RSS idle / peak | {idle_rss:.0} MB / {:.0} MB (target under 150 MB) |",
        peak.max(peak_sampled)
    );
    for error in &errors {
        println!("\nError: {error}");
    }
    let mut options = NetboxOptions::new(netbox_env("NETBOX_URL"), netbox_env("NETBOX_TOKEN"));
    options.timeout = Duration::from_secs(900);
    netbox_cleanup::cleanup(&NetboxClient::new(options).unwrap(), &name).await;
    sim.stop().await;
    let mut targets = Targets::default();
    targets.under(
        "page latency p99",
        percentile(&latencies, 0.99),
        200.0,
        "ms",
    );
    targets.under("server peak RSS", peak.max(peak_sampled), 150.0, "MB");
    targets.equal("client errors", error_count, 0);
    targets.equal(
        "job streams that missed events",
        (streams - whole_streams) as u64,
        0,
    );
    targets.holds("the job", status == "completed", &status);
    targets.finish("load");
}
