//! How both binaries open their broker connection: credentials, keep-alive, last-will-free
//! options and, for `mqtts://`, TLS with the system's roots or a configured CA file and an
//! optional client certificate.
//!
//! This is the one part of the crate that touches files (the PEM files named in the config),
//! so it sits behind the `client` feature; decoding and encoding stay I/O-free. Files are read
//! once, at start, so a missing or malformed certificate is refused before anything connects,
//! with the key that named it.

use std::sync::Arc;

use rumqttc::tokio_rustls::rustls::pki_types::pem::PemObject;
use rumqttc::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rumqttc::tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use rumqttc::{MqttOptions, Transport};

use crate::config::{ConfigError, MqttKeys};

/// The largest packet either side sends or accepts (1 MiB). Every message of the contract is
/// well under 4 KiB; this leaves room for junk to arrive and be refused by the decoders
/// instead of costing the connection. A bigger packet makes rumqttc drop the connection, so
/// brokers should refuse such messages first (Mosquitto: `message_size_limit`; the one-box
/// broker: `broker.max_payload_bytes`).
pub const MAX_PACKET_BYTES: usize = 1 << 20;

/// The first wait after a failed connection, in both binaries; doubled per failure up to
/// [`MAX_RECONNECT_WAIT`] and reset when a connection is accepted.
pub const MIN_RECONNECT_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The longest wait between connection attempts, so a broker back after a long outage is
/// found within it.
pub const MAX_RECONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Options for `client_id` from the shared `[mqtt]` keys: checked, credentials set and, for
/// `mqtts://`, the TLS transport built. The caller adds its last-will and anything else.
pub fn mqtt_options(keys: &MqttKeys<'_>, client_id: &str) -> Result<MqttOptions, ConfigError> {
    let url = keys.check()?;
    let mut options = MqttOptions::new(client_id, url.host.clone(), url.port);
    options.set_keep_alive(std::time::Duration::from_secs(keys.keep_alive_s.into()));
    options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    if !keys.username.is_empty() {
        options.set_credentials(keys.username, keys.password);
    }
    if url.tls {
        options.set_transport(Transport::tls_with_config(tls_config(keys)?.into()));
    }
    Ok(options)
}

/// The rustls configuration for `mqtts://`, with the ring provider (it cross-builds for the
/// Pi with nothing but a C compiler).
pub fn tls_config(keys: &MqttKeys<'_>) -> Result<ClientConfig, ConfigError> {
    let roots = if keys.ca_file.is_empty() {
        system_roots()?
    } else {
        let mut roots = RootCertStore::empty();
        let certs = read_certs("mqtt.ca_file", keys.ca_file)?;
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(ConfigError::invalid(
                "mqtt.ca_file",
                format!("{}: no usable CA certificate in it", keys.ca_file),
            ));
        }
        roots
    };
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::invalid("mqtt.url", format!("TLS setup: {e}")))?
            .with_root_certificates(roots);
    if keys.client_cert_file.is_empty() {
        return Ok(builder.with_no_client_auth());
    }
    let chain = read_certs("mqtt.client_cert_file", keys.client_cert_file)?;
    let key = PrivateKeyDer::from_pem_file(keys.client_key_file).map_err(|e| {
        ConfigError::invalid(
            "mqtt.client_key_file",
            format!("{}: no PEM private key: {e}", keys.client_key_file),
        )
    })?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| ConfigError::invalid("mqtt.client_key_file", e.to_string()))
}

/// What a person should check after a failed connection, naming the config keys involved;
/// empty when the error says enough by itself (e.g. a refused TCP connection).
pub fn explain(error: &rumqttc::ConnectionError) -> &'static str {
    use rumqttc::{ConnectReturnCode, ConnectionError};
    match error {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => "the broker refused the credentials: check mqtt.username and mqtt.password",
        ConnectionError::ConnectionRefused(_) => "the broker refused the connection",
        ConnectionError::Tls(_) => {
            "TLS failed: check that mqtt.url names the host in the broker's certificate \
             and that mqtt.ca_file holds the CA that signed it"
        }
        _ => "",
    }
}

fn read_certs(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ConfigError::invalid(key, format!("{path}: {e}")))?;
    if certs.is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("{path}: no PEM certificate in it"),
        ));
    }
    Ok(certs)
}

fn system_roots() -> Result<RootCertStore, ConfigError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "none installed (apt-get install ca-certificates)".into());
        return Err(ConfigError::invalid(
            "mqtt.ca_file",
            format!("empty, and the system's CA certificates cannot be used: {why}"),
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(url: &'a str, ca: &'a str) -> MqttKeys<'a> {
        MqttKeys {
            url,
            prefix: "xpressify",
            username: "",
            password: "",
            keep_alive_s: 30,
            ca_file: ca,
            client_cert_file: "",
            client_key_file: "",
        }
    }

    #[test]
    fn a_missing_ca_file_is_refused_by_key() {
        let err = mqtt_options(&keys("mqtts://broker.lan", "/nonexistent/ca.pem"), "t")
            .expect_err("missing file");
        let text = err.to_string();
        assert!(text.contains("mqtt.ca_file"), "{text}");
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("xpressify-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("junk.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let path = path.to_string_lossy().into_owned();
        let err = mqtt_options(&keys("mqtts://broker.lan", &path), "t").expect_err("junk");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn plain_mqtt_needs_no_files() {
        let options = mqtt_options(&keys("mqtt://127.0.0.1:1884", ""), "t").expect("plain");
        assert_eq!(options.broker_address(), ("127.0.0.1".to_string(), 1884));
    }

    #[test]
    fn tls_keys_without_mqtts_are_refused() {
        let err = mqtt_options(&keys("mqtt://broker.lan", "/etc/ca.pem"), "t").expect_err("x");
        assert!(err.to_string().contains("not mqtts://"), "{err}");
    }
}
