//! SSDP discovery of UPnP media renderers: one `M-SEARCH` for
//! `urn:schemas-upnp-org:device:MediaRenderer:1`, and the answers collected for a while.
//!
//! The search goes to SSDP's multicast group (`239.255.255.250:1900`) by default, which is how
//! TVs and speakers on the LAN are found; it may instead go to one address (a renderer whose
//! IP is known, or a test's). The `HOST` header always names the group, as UPnP 1.0 devices
//! (libupnp's among them) answer only such a search. Answers are bounded in size and count.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

/// SSDP's multicast group and port.
pub const SSDP_GROUP: &str = "239.255.255.250:1900";
/// What is searched for.
pub const MEDIA_RENDERER: &str = "urn:schemas-upnp-org:device:MediaRenderer:1";
/// Answers kept at most (a LAN with more renderers than this is not a home).
const MAX_ANSWERS: usize = 64;

/// One device that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Its description's URL (`LOCATION`).
    pub location: String,
    /// Its unique service name (`USN`), which starts with its `uuid:…`.
    pub usn: String,
    /// The address it answered from.
    pub from: SocketAddr,
}

/// The `M-SEARCH` request: `MX` seconds of spread for the answers.
fn search_request(mx: u64) -> String {
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: {SSDP_GROUP}\r\nMAN: \"ssdp:discover\"\r\nMX: {mx}\r\n\
         ST: {MEDIA_RENDERER}\r\nUSER-AGENT: Linux UPnP/1.1 xpressify/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The location and USN of an answer, when it is a `200 OK` for a media renderer.
pub fn parse_answer(datagram: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(datagram).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?;
    if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
        return None;
    }
    let (mut location, mut usn, mut st) = (None, None, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match name.trim().to_ascii_uppercase().as_str() {
            "LOCATION" => location = Some(value),
            "USN" => usn = Some(value),
            "ST" => st = Some(value),
            _ => {}
        }
    }
    let location = location.filter(|l| l.starts_with("http://") || l.starts_with("https://"))?;
    (st.as_deref() == Some(MEDIA_RENDERER)).then(|| (location, usn.unwrap_or_default()))
}

/// Searches for media renderers at `target` (the multicast group, or one device) and collects
/// the answers that arrive within `wait`, one per location.
pub async fn search(target: SocketAddr, wait: Duration) -> std::io::Result<Vec<Answer>> {
    let socket = UdpSocket::bind(if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .await?;
    let mx = wait.as_secs().clamp(1, 5);
    socket
        .send_to(search_request(mx).as_bytes(), target)
        .await?;
    let deadline = Instant::now() + wait;
    let mut answers: Vec<Answer> = Vec::new();
    let mut buf = vec![0u8; 4096];
    while answers.len() < MAX_ANSWERS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Ok(received) = tokio::time::timeout(left, socket.recv_from(&mut buf)).await else {
            break;
        };
        let (n, from) = received?;
        if let Some((location, usn)) = parse_answer(&buf[..n])
            && !answers.iter().any(|a| a.location == location)
        {
            answers.push(Answer {
                location,
                usn,
                from,
            });
        }
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renderer_answers_are_read_and_others_ignored() {
        let ok = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=100\r\nEXT:\r\n\
                  Location: http://10.0.0.5:49152/description.xml\r\n\
                  ST: urn:schemas-upnp-org:device:MediaRenderer:1\r\n\
                  USN: uuid:abc::urn:schemas-upnp-org:device:MediaRenderer:1\r\n\r\n";
        assert_eq!(
            parse_answer(ok.as_bytes()),
            Some((
                "http://10.0.0.5:49152/description.xml".into(),
                "uuid:abc::urn:schemas-upnp-org:device:MediaRenderer:1".into()
            ))
        );
        let server = ok.replace("MediaRenderer", "MediaServer");
        assert_eq!(parse_answer(server.as_bytes()), None);
        let no_location = ok.replace("Location: http://10.0.0.5:49152/description.xml\r\n", "");
        assert_eq!(parse_answer(no_location.as_bytes()), None);
        let file = ok.replace("http://10.0.0.5", "file:///etc");
        assert_eq!(parse_answer(file.as_bytes()), None);
        assert_eq!(parse_answer(b"\xff\xfe junk"), None);
        assert!(
            search_request(2).contains("MX: 2\r\nST: urn:schemas-upnp-org:device:MediaRenderer:1")
        );
    }
}
