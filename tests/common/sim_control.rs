//! The simulator's control API (`/_sim/…`) as the tests and benches that change a cluster
//! the way Proxmox does drive it (each includes this file with `#[path]`).

use serde_json::Value;

pub struct SimControl {
    http: reqwest::Client,
    /// The simulator's base URL (`http://127.0.0.1:PORT`).
    url: String,
}

impl SimControl {
    pub fn new(url: &str) -> SimControl {
        SimControl {
            http: reqwest::Client::new(),
            url: url.to_string(),
        }
    }

    /// Sends `body` (if any) to `path` and answers the simulator's JSON (`null` for an
    /// empty answer); a refused call fails with the path and the status.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        assert!(
            answer.status().is_success(),
            "{method} {path}: {}",
            answer.status()
        );
        answer.json().await.unwrap_or(Value::Null)
    }
}
