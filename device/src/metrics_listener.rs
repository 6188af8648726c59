//! `GET /metrics` on `metrics.listen` (off by default): the process's figures in Prometheus'
//! text format, for a scraper on the LAN. A plain HTTP/1.1 answerer on a thread of its own,
//! bounded for a hostile LAN: one connection at a time, a request head of at most 8 KiB that
//! must arrive within 2 s, 2 s to write the answer, then the connection is closed — a client
//! that stalls costs the others at most those two seconds, and never the vision loop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tracing::{debug, info, warn};

/// The longest request head read.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a client has to send its request head, and to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Binds `addr` and answers on a thread until `stop` is set.
pub fn start(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .with_context(|| format!("metrics.listen: cannot listen on {addr}"))?;
    listener
        .set_nonblocking(true)
        .context("metrics.listen: setting up the socket")?;
    info!(%addr, "metrics on http://{addr}/metrics");
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        if let Err(e) = answer(stream) {
                            debug!(%peer, error = %e, "metrics request");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => {
                        warn!(error = %e, "metrics listener");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
        })
        .context("starting the metrics thread")
}

/// Reads one request head (bounded in size and time) and answers it.
fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let complete = loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break true;
        }
        if head.len() >= MAX_HEAD || Instant::now() >= deadline {
            break false;
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false;
            }
            Err(e) => return Err(e),
        }
    };
    let (status, body) = if !complete {
        if head.len() >= MAX_HEAD {
            (
                "431 Request Header Fields Too Large",
                "request head too large\n".to_string(),
            )
        } else {
            (
                "408 Request Timeout",
                "the request took too long\n".to_string(),
            )
        }
    } else {
        route(&head)
    };
    let kind = if status.starts_with("200") {
        xpressify_protocol::telemetry::CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

/// The answer to a complete request head.
fn route(head: &[u8]) -> (&'static str, String) {
    let line = head
        .split(|b| *b == b'\r')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, path, version) = (parts.next(), parts.next(), parts.next());
    if !version.is_some_and(|v| v.starts_with("HTTP/1.")) || parts.next().is_some() {
        return ("400 Bad Request", "not an HTTP/1 request\n".into());
    }
    match (method, path) {
        (Some("GET"), Some("/metrics")) => match xpressify_protocol::telemetry::render() {
            Some(text) => ("200 OK", text),
            None => ("503 Service Unavailable", "no metrics recorder\n".into()),
        },
        (Some("GET"), _) => ("404 Not Found", "only /metrics is here\n".into()),
        _ => ("405 Method Not Allowed", "use GET /metrics\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_get_metrics() {
        assert_eq!(route(b"GET /other HTTP/1.1\r\n\r\n").0, "404 Not Found");
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n").0,
            "405 Method Not Allowed"
        );
        assert_eq!(route(b"junk\r\n\r\n").0, "400 Bad Request");
        assert_eq!(
            route(b"GET /metrics HTTP/1.1 x\r\n\r\n").0,
            "400 Bad Request"
        );
    }
}
