//! `mqtt://host:port` / `mqtts://host:port`: how both binaries name their broker in config.

use std::fmt;
use std::str::FromStr;

/// A broker address. `mqtt` defaults to port 1883, `mqtts` (TLS) to 8883.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to speak TLS.
    pub tls: bool,
}

/// `url` with whatever precedes an `@` in its authority (`user:password`) replaced by `***`,
/// so a URL can be shown in an error or a log.
pub fn mask_credentials(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

impl FromStr for BrokerUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // Errors show the URL with any `user:password@` masked: they end up in logs.
        let shown = mask_credentials(text);
        let s = shown.as_str();
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            format!("{s:?} has no scheme: write mqtt://HOST:PORT or mqtts://HOST:PORT")
        })?;
        let (tls, default_port) = match scheme {
            "mqtt" | "tcp" => (false, 1883),
            "mqtts" | "ssl" => (true, 8883),
            other => return Err(format!("unknown scheme {other:?}: use mqtt or mqtts")),
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains(['/', '@', '?']) {
            return Err(format!(
                "{s:?}: only HOST[:PORT] may follow the scheme (credentials go in username/password)"
            ));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: unclosed [ in IPv6 address"))?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{s:?} has no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{s:?}: port {p:?} is not a number from 1 to 65535"))?,
            None => default_port,
        };
        Ok(BrokerUrl {
            host: host.to_string(),
            port,
            tls,
        })
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_repeat_a_password() {
        for bad in [
            "mqtt://house:s3cret@broker.lan:1883",
            "mqtt://house:s3cret@broker.lan:99999",
            "house:s3cret@broker.lan",
            "mqtt://house:s3cret@",
        ] {
            let e = bad.parse::<BrokerUrl>().expect_err(bad);
            assert!(!e.contains("s3cret"), "{e}");
            assert!(e.contains("***@"), "{e}");
        }
        assert_eq!(mask_credentials("http://u:p@h:1/x?y"), "http://***@h:1/x?y");
        assert_eq!(mask_credentials("mqtt://h:1"), "mqtt://h:1");
    }

    #[test]
    fn parses_schemes_hosts_and_ports() {
        let u: BrokerUrl = "mqtt://127.0.0.1:1884".parse().expect("valid");
        assert_eq!((u.host.as_str(), u.port, u.tls), ("127.0.0.1", 1884, false));
        let u: BrokerUrl = "mqtts://broker.lan".parse().expect("valid");
        assert_eq!((u.port, u.tls), (8883, true));
        let u: BrokerUrl = "mqtt://[::1]:1883".parse().expect("valid");
        assert_eq!(u.host, "::1");
        assert_eq!(u.to_string(), "mqtt://[::1]:1883");
        for bad in [
            "127.0.0.1:1883",
            "http://x",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:x",
            "mqtt://u:p@h",
        ] {
            assert!(bad.parse::<BrokerUrl>().is_err(), "{bad}");
        }
    }
}
