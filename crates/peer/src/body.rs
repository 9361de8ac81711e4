//! Reading a peer's answer with a ceiling: a misbehaving or hostile peer (or a proxy in
//! front of it) must not make Proxbox hold an unbounded body in memory.

/// The largest answer body Proxbox reads from a peer: far above any real one (a
/// 1,000-guest `/cluster/resources` is about half a megabyte, a NetBox page of 1,000 VMs a
/// few), far below what would hurt the server.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The answer is (or announced itself as) larger than the ceiling.
    TooLarge {
        limit: usize,
    },
    Transport(reqwest::Error),
}

impl BodyError {
    /// The words for a person: what happened and what to check.
    pub fn describe(&self) -> String {
        match self {
            BodyError::TooLarge { limit } => format!(
                "the answer is larger than {} MB, more than any real answer; nothing of it was used (check what answers at this address, or a proxy in front of it)",
                limit / (1024 * 1024)
            ),
            BodyError::Transport(e) => e.to_string(),
        }
    }
}

/// The body of `response`, at most `limit` bytes: refused at once when its
/// `Content-Length` says more, and as soon as the chunks read pass it.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server answering `head` then `chunks` of `chunk_size` bytes:
    /// the fault a real peer does not produce on demand.
    async fn serve_once(head: String, chunks: usize, chunk_size: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; chunk_size];
            for _ in 0..chunks {
                let framed = format!("{chunk_size:x}\r\n");
                if socket.write_all(framed.as_bytes()).await.is_err()
                    || socket.write_all(&chunk).await.is_err()
                    || socket.write_all(b"\r\n").await.is_err()
                {
                    return;
                }
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        });
        format!("http://{addr}/")
    }

    async fn get(url: &str) -> reqwest::Response {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new().get(url).send().await.unwrap()
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_refused_and_one_within_is_read() {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_string();
        let url = serve_once(chunked.clone(), 64, 1024).await;
        let refused = read_capped(get(&url).await, 16 * 1024).await.unwrap_err();
        assert!(
            matches!(refused, BodyError::TooLarge { limit: 16384 }),
            "{refused:?}"
        );
        assert!(refused.describe().contains("nothing of it was used"));

        let url = serve_once(chunked, 4, 1024).await;
        assert_eq!(
            read_capped(get(&url).await, 16 * 1024).await.unwrap().len(),
            4096
        );

        // An announced length past the limit is refused before any of it is read.
        let announced = "HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n".to_string();
        let url = serve_once(announced, 0, 0).await;
        assert!(matches!(
            read_capped(get(&url).await, 16 * 1024).await,
            Err(BodyError::TooLarge { .. })
        ));
    }
}
