//! What every request passes before a handler: the `Host` check against DNS rebinding, and the
//! headers that keep the page from being framed, sniffed or made to load foreign scripts.
//!
//! DNS rebinding: a page on `evil.example` that a household member visits re-points its own
//! name at the box's LAN address; the browser then sends the page's requests to the box with
//! `Host: evil.example` and lets the page read the answers (same origin, as far as it knows) —
//! the family's emotion history included. A rebinding attack needs a *name*, so the box answers
//! only requests whose `Host` is an IP address, `localhost`, this machine's host name (also
//! with `.local`, as mDNS gives it), or a name listed in `http.allowed_hosts`; any other gets
//! `421 Misdirected Request`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The names (besides IP addresses) the box answers to.
#[derive(Debug, Clone)]
pub struct HostCheck {
    names: Vec<String>,
    any: bool,
}

impl HostCheck {
    /// Loopback names, `hostname` (and `hostname.local`) and `allowed` (`http.allowed_hosts`;
    /// `"*"` turns the check off, for a reverse proxy that checks names itself).
    pub fn new(allowed: &[String], hostname: Option<&str>) -> HostCheck {
        let mut names: Vec<String> = allowed.iter().map(|n| normalize(n)).collect();
        let any = names.iter().any(|n| n == "*");
        names.push("localhost".into());
        if let Some(h) = hostname.map(normalize).filter(|h| !h.is_empty()) {
            names.push(format!("{h}.local"));
            names.push(h);
        }
        HostCheck { names, any }
    }

    /// This machine's name, as the kernel has it (`None` where it cannot be read).
    pub fn machine_hostname() -> Option<String> {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Whether a request with this `Host` header may be answered. A request without one
    /// (HTTP/1.0 scripts) may: browsers always send it.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host else { return true };
        if self.any {
            return true;
        }
        let host = host.trim();
        if host.starts_with('[') {
            // An IPv6 literal, `[::1]:8080`.
            return host
                .split_once(']')
                .is_some_and(|(ip, _)| ip[1..].parse::<std::net::Ipv6Addr>().is_ok());
        }
        let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
        if name.parse::<std::net::Ipv4Addr>().is_ok() {
            return true;
        }
        let name = normalize(name);
        name.ends_with(".localhost") || self.names.contains(&name)
    }
}

fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Refuses a request whose `Host` the box does not answer to (see the module's doc).
pub async fn check_host(
    State(check): State<Arc<HostCheck>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"));
    if check.allows(host) {
        return next.run(request).await;
    }
    let error = format!(
        "this box does not answer to the name {:?}: open it by its IP address or host name, or add the name to http.allowed_hosts",
        host.unwrap_or_default()
    );
    (
        StatusCode::MISDIRECTED_REQUEST,
        axum::Json(serde_json::json!({ "error": error })),
    )
        .into_response()
}

/// The page's content security policy: its own scripts and styles, YouTube's player (script,
/// frame, thumbnails), nothing inline, and no framing by anyone.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
    script-src 'self' https://www.youtube.com https://s.ytimg.com; \
    frame-src https://www.youtube.com https://www.youtube-nocookie.com; \
    img-src 'self' data: https://i.ytimg.com; \
    media-src 'self' blob:; connect-src 'self'; style-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every answer.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ] {
        headers.insert(name, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_loopback_and_listed_names_pass_others_do_not() {
        let check = HostCheck::new(&["Music.Home".into()], Some("xpressify"));
        for ok in [
            "127.0.0.1:8080",
            "192.168.1.20",
            "[::1]:8080",
            "localhost:8080",
            "app.localhost",
            "xpressify:8080",
            "xpressify.local",
            "XPRESSIFY.LOCAL.",
            "music.home:80",
        ] {
            assert!(check.allows(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "[not-an-ip]:80",
            "xpressify.evil",
            "",
        ] {
            assert!(!check.allows(Some(bad)), "{bad}");
        }
        assert!(check.allows(None));
        assert!(HostCheck::new(&["*".into()], None).allows(Some("anything.example")));
    }
}
