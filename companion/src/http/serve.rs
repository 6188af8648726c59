//! The HTTP server's front door: accepts connections within bounds, so nobody on the LAN can
//! hold the box's file descriptors or memory by opening connections and sending nothing.
//!
//! `axum::serve` reads request heads for as long as a client likes and accepts every
//! connection: 1,100 half-sent requests under systemd's 1,024-file limit starved the API, the
//! embedded broker and the device together. Here:
//!
//! - every connection must send a whole request head within [`Limits::header_timeout`], and a
//!   kept-alive connection that sends nothing for as long is closed (hyper's header-read
//!   timer, which runs from the moment a head is awaited);
//! - at most [`Limits::max_connections`] are open, and at most
//!   [`Limits::max_per_client`] from one address, so one machine cannot take every slot;
//! - a connection over either cap is *answered* — `503` with `Retry-After` and a JSON error —
//!   and closed, never left hanging, and the refusals are logged (at most every 10 s).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use super::slots::{ConnectionSlots, Refusal};

/// How many connections the server holds, and for how long a silent one may stay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Open connections at most (`http.max_connections`).
    pub max_connections: usize,
    /// Open connections from one IP address at most (`http.max_connections_per_client`).
    pub max_per_client: usize,
    /// How long a request head may take to arrive, and how long an idle kept-alive
    /// connection stays open (`http.header_timeout_s`).
    pub header_timeout: Duration,
}

/// Refusals being answered at once at most; past this a refused connection is just closed,
/// so a flood of them costs no more than this many sockets.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// How long a refused client gets to take its `503`.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` within `limits` until the task is dropped.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits) {
    let slots = ConnectionSlots::new(limits.max_connections, limits.max_per_client);
    let refusing = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let mut last_report = Instant::now();
    let mut reported = 0u64;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors or the like: wait instead of spinning; the
                // connections we hold time out and free theirs.
                warn!(error = %e, "cannot accept an HTTP connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match slots.take(peer.ip()) {
            Ok(slot) => {
                let conn = http
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        debug!(error = %e, %peer, "HTTP connection ended");
                    }
                    drop(slot);
                });
            }
            Err(why) => {
                refused.fetch_add(1, Ordering::Relaxed);
                refuse(stream, peer, why, &limits, &refusing);
            }
        }
        let total = refused.load(Ordering::Relaxed);
        if total > reported && last_report.elapsed() >= Duration::from_secs(10) {
            warn!(
                refused = total - reported,
                max_connections = limits.max_connections,
                max_per_client = limits.max_per_client,
                "HTTP connections over the limit were refused (http.max_connections, http.max_connections_per_client)"
            );
            reported = total;
            last_report = Instant::now();
        }
    }
}

/// Answers a connection over the limits with `503` and closes it, off the accept loop.
fn refuse(
    mut stream: TcpStream,
    peer: SocketAddr,
    why: Refusal,
    limits: &Limits,
    refusing: &Arc<AtomicUsize>,
) {
    if refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSALS_IN_FLIGHT {
        refusing.fetch_sub(1, Ordering::AcqRel);
        return; // dropped: closed at once
    }
    let message = match why {
        Refusal::Full => format!(
            "the companion holds its {} HTTP connections; try again shortly",
            limits.max_connections
        ),
        Refusal::ClientFull => format!(
            "{} holds {} HTTP connections already, the most one address may; close some and try again",
            peer.ip(),
            limits.max_per_client
        ),
    };
    let body = serde_json::json!({ "error": message }).to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let refusing = refusing.clone();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            stream.write_all(answer.as_bytes()).await?;
            stream.shutdown().await?;
            // Read what the client sent, so closing does not reset the connection before
            // the client has read its answer.
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, std::io::Error>(())
        })
        .await;
        refusing.fetch_sub(1, Ordering::AcqRel);
    });
}
