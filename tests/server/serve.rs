//! The real binary's connection handling and log: a client that sends its headers too
//! slowly, or keeps a connection idle, is cut off; a forged line in a login name stays on
//! its own line in the log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::*;

struct Served {
    process: std::process::Child,
    base: String,
    addr: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    /// `proxbox serve` on a new data directory, with a one-second header timeout.
    async fn start() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("out.log");
        let out = std::fs::File::create(&log).unwrap();
        let addr = format!("127.0.0.1:{port}");
        let process = std::process::Command::new(env!("CARGO_BIN_EXE_proxbox"))
            .args(["serve", "--listen", &addr])
            .env("PROXBOX_DATA_DIR", dir.path())
            .env("PROXBOX_SECRET_KEY", TEST_KEY)
            .env("PROXBOX_WORKERS", "0")
            .env("PROXBOX_HEADER_TIMEOUT_SECS", "1")
            .env("PROXBOX_LOG", "info")
            .env_remove("PROXBOX_DATABASE_URL")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let base = format!("http://{addr}");
        let client = new_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.get(format!("{base}/health")).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Served {
            process,
            base,
            addr,
            log,
            _dir: dir,
        }
    }

    fn stop(mut self) -> String {
        let _ = self.process.kill();
        let _ = self.process.wait();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// Reads until the server closes the connection (or the test's patience ends); what came.
fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> (bool, String) {
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (true, String::from_utf8_lossy(&received).into_owned()),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (true, String::from_utf8_lossy(&received).into_owned())
            }
            Err(_) => return (false, String::from_utf8_lossy(&received).into_owned()),
        }
    }
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_cut_off() {
    let served = Served::start().await;
    let addr = served.addr.clone();
    tokio::task::spawn_blocking(move || {
        // Half a request, and then nothing: the connection is closed, not kept.
        let mut slow = TcpStream::connect(&addr).unwrap();
        slow.write_all(b"GET /health HTTP/1.1\r\nHost: proxbox\r\n")
            .unwrap();
        let began = Instant::now();
        let (closed, _) = read_until_closed(&mut slow, Duration::from_secs(20));
        assert!(closed, "a connection with unfinished headers stays open");
        assert!(began.elapsed() < Duration::from_secs(15));

        // A whole request is answered; the kept-alive connection is then closed when idle.
        let mut idle = TcpStream::connect(&addr).unwrap();
        idle.write_all(b"GET /health HTTP/1.1\r\nHost: proxbox\r\n\r\n")
            .unwrap();
        let (closed, answer) = read_until_closed(&mut idle, Duration::from_secs(20));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(closed, "an idle kept-alive connection stays open");
    })
    .await
    .unwrap();
    served.stop();
}

#[tokio::test]
async fn a_login_name_cannot_forge_a_log_line() {
    let served = Served::start().await;
    let client = new_client();
    let csrf = csrf_at(&client, &served.base).await;
    let csrf = csrf.as_str();
    let forged = "mallory\n2026-01-01T00:00:00.000000Z  INFO proxbox: login user=admin";
    let refused = client
        .post(format!("{}/api/login", served.base))
        .form(&[("csrf", csrf), ("username", forged), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert!(!refused.status().is_success(), "{}", refused.status());
    let log = served.stop();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("failed login")).collect();
    assert_eq!(failed.len(), 1, "{log}");
    assert!(failed[0].contains(r"mallory\n2026-01-01"), "{}", failed[0]);
    assert!(
        !log.lines().any(|l| l.starts_with("2026-01-01T00:00:00")),
        "a forged line: {log}"
    );
}
