//! The box's own MQTT broker (`rumqttd`, in this process): the device and the companion talk
//! through it, and Home Assistant can use it too. Switch it off (`broker.enabled = false`) to
//! use an external broker such as Home Assistant's Mosquitto add-on.
//!
//! With `broker.accounts` set, rumqttd moves to a loopback port of its own and clients reach
//! it through [`gate`], which holds each account to its topics ([`acl`]).

pub mod acl;
pub mod gate;
pub mod packet;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use xpressify_protocol::Secret;

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
    pub password: Secret,
    /// A file holding the password instead (or a systemd credential's name).
    pub password_file: String,
    /// Largest message accepted, in bytes; a client that sends more is disconnected.
    pub max_payload_bytes: usize,
    /// More logins, each held to its role's topics (see [`acl`]): one per device elsewhere in
    /// the house (named as its `mqtt.device_id`), `controller` for Home Assistant,
    /// `companion` for a companion on another machine. Needs `username` and `password` (the
    /// box's own login, which may do everything).
    pub accounts: Vec<Account>,
}

/// One login of `broker.accounts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The user name; a device's is its `mqtt.device_id`.
    pub username: String,
    /// Its password.
    #[serde(default)]
    pub password: Secret,
    /// A file holding the password instead (or a systemd credential's name).
    #[serde(default)]
    pub password_file: String,
    /// What it may publish and read.
    pub role: acl::Role,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        BrokerSettings {
            enabled: true,
            listen: "127.0.0.1:1883".into(),
            username: String::new(),
            password: Secret::default(),
            password_file: String::new(),
            max_payload_bytes: 256 * 1024,
            accounts: Vec::new(),
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
pub fn start(settings: &BrokerSettings, rules: acl::Rules) -> anyhow::Result<SocketAddr> {
    let addr = settings.listen_addr()?;
    let public = TcpListener::bind(addr).with_context(|| {
        format!(
            "the embedded broker cannot listen on {addr} (broker.listen): is another MQTT \
             broker running there? Stop it, choose another port, or set broker.enabled = false \
             and point [device.mqtt] and [companion.mqtt] at it"
        )
    })?;
    // With accounts, rumqttd listens on a loopback port of its own behind the gate.
    let (inner, gate_listener) = if settings.accounts.is_empty() {
        drop(public);
        (addr, None)
    } else {
        let probe = TcpListener::bind("127.0.0.1:0").context("finding a port for the broker")?;
        let inner = probe
            .local_addr()
            .context("finding a port for the broker")?;
        (inner, Some(public))
    };
    let mut broker = rumqttd::Broker::new(config(settings, inner));
    std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "the embedded MQTT broker stopped");
            }
        })
        .context("starting the broker thread")?;
    wait_until_listening(inner)?;
    if let Some(listener) = gate_listener {
        gate::start(listener, gate_for(settings, rules, inner))?;
    }
    tracing::info!(%addr, accounts = settings.accounts.len(), "embedded MQTT broker listening");
    Ok(addr)
}

/// The gate's logins (the box's own first) and limits.
fn gate_for(settings: &BrokerSettings, rules: acl::Rules, upstream: SocketAddr) -> gate::Gate {
    let mut logins = vec![gate::Login {
        username: settings.username.clone(),
        password: settings.password.clone(),
        who: acl::Who::Box,
    }];
    logins.extend(settings.accounts.iter().map(|a| gate::Login {
        username: a.username.clone(),
        password: a.password.clone(),
        who: acl::Who::Account {
            user: a.username.clone(),
            role: a.role,
        },
    }));
    gate::Gate {
        logins,
        rules,
        upstream,
        upstream_login: (!settings.username.is_empty())
            .then(|| (settings.username.clone(), settings.password.clone())),
        // The topic and headers besides the payload.
        max_packet: settings.max_payload_bytes + 64 * 1024,
    }
}

/// rumqttd's settings for a box: a few dozen clients, small messages, little memory.
fn config(settings: &BrokerSettings, addr: SocketAddr) -> rumqttd::Config {
    let auth = (!settings.username.is_empty()).then(|| {
        HashMap::from([(
            settings.username.clone(),
            settings.password.expose().to_string(),
        )])
    });
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
