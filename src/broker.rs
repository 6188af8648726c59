//! The box's own MQTT broker (`rumqttd`, in this process): the device and the companion talk
//! through it, and Home Assistant can use it too. Switch it off (`broker.enabled = false`) to
//! use an external broker such as Home Assistant's Mosquitto add-on.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// `[broker]` of the one-box configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSettings {
    /// Run the broker in this process; when off, `[device.mqtt]` and `[companion.mqtt]` name
    /// an external one.
    pub enabled: bool,
    /// Address and port to accept MQTT (3.1.1) clients on; `0.0.0.0:1883` serves the LAN
    /// (Home Assistant), `127.0.0.1:1883` only this machine.
    pub listen: String,
    /// When set, every client must log in with this name and `password` (the box's own
    /// clients do so by themselves).
    pub username: String,
    /// The password for `username`.
    pub password: String,
    /// A file holding the password instead (or a systemd credential's name).
    pub password_file: String,
    /// Largest message accepted, in bytes; a client that sends more is disconnected.
    pub max_payload_bytes: usize,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        BrokerSettings {
            enabled: true,
            listen: "127.0.0.1:1883".into(),
            username: String::new(),
            password: String::new(),
            password_file: String::new(),
            max_payload_bytes: 256 * 1024,
        }
    }
}

impl BrokerSettings {
    /// The listening address, checked.
    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "config key `broker.listen`: {:?} is not ADDRESS:PORT, e.g. 127.0.0.1:1883",
                self.listen
            )
        })
    }

    /// The URL the box's own clients connect with: loopback when listening on every address.
    pub fn client_url(&self) -> anyhow::Result<String> {
        let addr = self.listen_addr()?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        Ok(format!("mqtt://{host}:{}", addr.port()))
    }
}

/// Starts the broker on its own threads (rumqttd runs a router thread and one per listener)
/// and returns once its port is bound. The broker lives as long as the process.
///
/// rumqttd only logs a listener that fails to bind, so the port is tried here first: a port
/// already taken (often by a Mosquitto running beside) is an error with a hint, not a box
/// whose clients wait forever.
pub fn start(settings: &BrokerSettings) -> anyhow::Result<SocketAddr> {
    let addr = settings.listen_addr()?;
    drop(TcpListener::bind(addr).with_context(|| {
        format!(
            "the embedded broker cannot listen on {addr} (broker.listen): is another MQTT \
             broker running there? Stop it, choose another port, or set broker.enabled = false \
             and point [device.mqtt] and [companion.mqtt] at it"
        )
    })?);
    let mut broker = rumqttd::Broker::new(config(settings, addr));
    std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "the embedded MQTT broker stopped");
            }
        })
        .context("starting the broker thread")?;
    wait_until_listening(addr)?;
    tracing::info!(%addr, "embedded MQTT broker listening");
    Ok(addr)
}

/// rumqttd's settings for a box: a few dozen clients, small messages, little memory.
fn config(settings: &BrokerSettings, addr: SocketAddr) -> rumqttd::Config {
    let auth = (!settings.username.is_empty())
        .then(|| HashMap::from([(settings.username.clone(), settings.password.clone())]));
    let server = rumqttd::ServerSettings {
        name: "mqtt".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: settings.max_payload_bytes,
            max_inflight_count: 100,
            auth,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 200,
            // Each topic's log of recent messages: 1 MiB segments, at most 4 of them.
            max_segment_size: 1024 * 1024,
            max_segment_count: 4,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..Default::default()
    }
}

/// Waits (up to 5 s) until the broker accepts connections on `addr`.
fn wait_until_listening(addr: SocketAddr) -> anyhow::Result<()> {
    let target = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if std::net::TcpStream::connect_timeout(&target, std::time::Duration::from_millis(200))
            .is_ok()
        {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the embedded broker did not start listening on {addr} within 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
