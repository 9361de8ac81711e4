//! The HTTP/1 connection loop. axum's own `serve` gives hyper no timer, so a client could
//! hold a connection open for good by sending its headers a byte at a time, or by never
//! sending a next request on a kept-alive connection. Here every connection must send a
//! request's headers within `header_timeout`, which also closes kept-alive connections
//! idle that long. Streams and WebSockets are not affected: the timeout covers only
//! reading headers.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// The default time a client has to send a request's headers (and that a kept-alive
/// connection may stay idle).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` completes, then asks every connection
/// to finish its request in flight and waits for them to close.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let (stopping, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    while connections.try_join_next().is_some() {}
                    connections.spawn(serve_connection(
                        stream,
                        remote,
                        router.clone(),
                        header_timeout,
                        stop.clone(),
                    ));
                }
                // Out of file descriptors and the like: the listener stays, and the next
                // accept is tried a moment later instead of in a busy loop.
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let stopping = async move {
        // The guard `wait_for` returns is not `Send`: drop it before anything else waits.
        let _ = stop.wait_for(|stopping| *stopping).await.map(|_| ());
    };
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stopping => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, %remote, "connection ended");
    }
}
