//! A subscriber that follows a job's event stream the way a browser does through faults:
//! it drops its connection now and then, reconnects with `Last-Event-ID` (to either
//! instance), and waits out a server's restart.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pve_sim::model::Rng;

/// What the subscriber received.
pub struct Followed {
    /// The `id:` of every event frame, in arrival order.
    pub seqs: Vec<i64>,
    /// The event name of each of `seqs`.
    pub names: Vec<String>,
    pub reconnects: u64,
}

impl Followed {
    /// Events of `log` not received exactly once and in order, and events received that
    /// the log does not hold as they were received — a frame sent before a `kill -9` that
    /// was never stored, or stored as another event (0 when all is well).
    pub fn lost_against(&self, log: &[(i64, String)]) -> u64 {
        let received: BTreeSet<i64> = self.seqs.iter().copied().collect();
        let missing = log
            .iter()
            .filter(|(seq, _)| !received.contains(seq))
            .count() as u64;
        let repeated = (self.seqs.len() - received.len()) as u64;
        let out_of_order = self.seqs.windows(2).filter(|w| w[0] >= w[1]).count() as u64;
        let stored: std::collections::HashMap<i64, &str> = log
            .iter()
            .map(|(seq, name)| (*seq, name.as_str()))
            .collect();
        let not_as_stored = self
            .seqs
            .iter()
            .zip(&self.names)
            .filter(|(seq, name)| stored.get(seq) != Some(&name.as_str()))
            .count() as u64;
        missing + repeated + out_of_order + not_as_stored
    }
}

pub async fn follow_job(bases: Vec<String>, key: String, job_id: i64, seed: u64) -> Followed {
    let mut rng = Rng::new(seed);
    let client = reqwest::Client::new();
    let mut followed = Followed {
        seqs: Vec::new(),
        names: Vec::new(),
        reconnects: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut attempt = 0usize;
    while Instant::now() < deadline {
        let base = &bases[attempt % bases.len()];
        attempt += 1;
        let mut request = client
            .get(format!("{base}/jobs/{job_id}/stream"))
            .header("x-proxbox-api-key", &key);
        if let Some(last) = followed.seqs.last() {
            request = request.header("last-event-id", last.to_string());
        }
        let response = match request.send().await {
            Ok(response) if response.status() == 200 => response,
            // Restarting: wait for it as EventSource does (its retry interval).
            _ => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        if attempt > 1 {
            followed.reconnects += 1;
        }
        let mut response = response;
        let mut buffer = String::new();
        let mut hang_up_after = rng.range(5, 400);
        'frames: while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut name = "";
                for line in frame.lines() {
                    if let Some(value) = line.strip_prefix("id: ") {
                        id = value.trim().parse::<i64>().ok();
                    } else if let Some(value) = line.strip_prefix("event: ") {
                        name = value.trim();
                    }
                }
                if let Some(id) = id {
                    followed.seqs.push(id);
                    followed.names.push(name.to_string());
                }
                if name == "complete" {
                    return followed;
                }
                hang_up_after = hang_up_after.saturating_sub(1);
                if hang_up_after == 0 {
                    break 'frames;
                }
            }
        }
    }
    followed
}
