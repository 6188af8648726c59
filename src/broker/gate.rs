//! The embedded broker's front door when `broker.accounts` are set: rumqttd has logins but no
//! topic rules, so every client connects here instead, logs in, and talks to rumqttd (on a
//! loopback port of its own) through the gate, which drops what its account may not publish
//! or read ([`super::acl`]).
//!
//! A dropped publish is still acknowledged, as Mosquitto does, so a client is not left
//! waiting; a will the account may not publish is refused at connect. Connections are
//! capped ([`MAX_CONNECTIONS`], [`MAX_PER_CLIENT`] from one address), a CONNECT must come
//! within [`CONNECT_WAIT`] and then a packet within 1.5 keep-alive periods ([`idle_limit`]),
//! packets are at most `broker.max_payload_bytes` and a little, and each account's client ids
//! are kept apart (`user:id`) so nobody can take over another's session.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use xpressify_protocol::Secret;

use anyhow::Context;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use xpressify_companion::http::slots::ConnectionSlots;

use super::acl::{Rules, Who};
use super::packet::{self, Connect, Frame, PacketError, kind};

/// Open client connections at most; one more is closed at once.
pub const MAX_CONNECTIONS: usize = 256;

/// Open client connections from one address at most.
pub const MAX_PER_CLIENT: usize = 32;

/// The longest a client may stay silent whatever keep-alive it asked for (0 asks for none).
const MAX_IDLE: Duration = Duration::from_secs(3600);

/// How long a client that asked for `keep_alive` seconds may stay silent: one and a half
/// periods, as MQTT 3.1.1 (3.1.2.10) has the server wait, and never more than [`MAX_IDLE`].
pub fn idle_limit(keep_alive: u16) -> Duration {
    if keep_alive == 0 {
        MAX_IDLE
    } else {
        (Duration::from_secs(u64::from(keep_alive)) * 3 / 2).min(MAX_IDLE)
    }
}

/// How long a new connection may take to send its CONNECT.
pub const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// One login the gate accepts.
pub struct Login {
    /// User name.
    pub username: String,
    /// Password.
    pub password: Secret,
    /// What it may do.
    pub who: Who,
}

/// Everything the gate needs.
pub struct Gate {
    /// The accepted logins (the box's own first).
    pub logins: Vec<Login>,
    /// The topic rules.
    pub rules: Rules,
    /// rumqttd's own (loopback) address.
    pub upstream: SocketAddr,
    /// The login the gate uses towards rumqttd (the box's own), if rumqttd wants one.
    pub upstream_login: Option<(String, Secret)>,
    /// The largest packet accepted, in bytes after the fixed header.
    pub max_packet: usize,
}

/// Compares every byte, so timing does not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Gate {
    /// Who `connect` logs in as; `Err(code)`: the CONNACK code to refuse it with.
    fn login(&self, connect: &Connect) -> Result<Who, u8> {
        let (Some(user), Some(password)) = (&connect.username, &connect.password) else {
            return Err(5); // not authorised: no anonymous clients here
        };
        let mut found = None;
        for login in &self.logins {
            // Every login is compared, so timing does not tell which names exist.
            let ok = same(login.username.as_bytes(), user.as_bytes())
                & same(login.password.expose().as_bytes(), password);
            if ok && found.is_none() {
                found = Some(login.who.clone());
            }
        }
        found.ok_or(4) // bad user name or password
    }
}

/// Serves `listener` on a thread of its own until the process ends.
pub fn start(listener: std::net::TcpListener, gate: Gate) -> anyhow::Result<()> {
    listener
        .set_nonblocking(true)
        .context("setting up the broker's listener")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the broker gate's runtime")?;
    std::thread::Builder::new()
        .name("broker-gate".into())
        .spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, Arc::new(gate)).await,
                    Err(e) => tracing::error!(error = %e, "the broker gate cannot listen"),
                }
            });
        })
        .context("starting the broker gate's thread")?;
    Ok(())
}

async fn serve(listener: TcpListener, gate: Arc<Gate>) {
    let slots = ConnectionSlots::new(MAX_CONNECTIONS, MAX_PER_CLIENT);
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of files, most likely: wait rather than spin.
                tracing::warn!(error = %e, "the broker cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::warn!(%peer, ?why, "too many MQTT connections; one more was closed");
                continue;
            }
        };
        let gate = gate.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(client, &gate).await {
                tracing::debug!(%peer, error = %e, "MQTT connection ended");
            }
            drop(slot);
        });
    }
}

/// One client: its login, then packets both ways through the rules.
async fn handle(mut client: TcpStream, gate: &Gate) -> Result<(), PacketError> {
    let first = tokio::time::timeout(CONNECT_WAIT, packet::read_frame(&mut client, 64 * 1024))
        .await
        .map_err(|_| PacketError::Malformed("no CONNECT in time"))??;
    let Some(first) = first else {
        return Ok(());
    };
    if first.kind() != kind::CONNECT {
        return Err(PacketError::Malformed("the first packet is not CONNECT"));
    }
    let connect = Connect::parse(&first.body)?;
    if connect.level != 4 {
        client.write_all(&packet::connack(1).encode()).await?;
        return Ok(());
    }
    let who = match gate.login(&connect) {
        Ok(who) => who,
        Err(code) => {
            tracing::warn!(user = ?connect.username, "MQTT login refused");
            client.write_all(&packet::connack(code).encode()).await?;
            return Ok(());
        }
    };
    if let Some(will) = &connect.will
        && !gate.rules.may_publish(&who, &will.topic)
    {
        tracing::warn!(topic = %will.topic, "MQTT will refused: not the account's topic");
        client.write_all(&packet::connack(5).encode()).await?;
        return Ok(());
    }
    let mut inner = connect.clone();
    (inner.username, inner.password) = match &gate.upstream_login {
        Some((u, p)) => (Some(u.clone()), Some(p.expose().as_bytes().to_vec())),
        None => (None, None),
    };
    if let Who::Account { user, .. } = &who {
        inner.client_id = format!("{user}:{}", connect.client_id);
    }
    let mut broker = TcpStream::connect(gate.upstream).await?;
    broker.write_all(&inner.encode().encode()).await?;

    let (from_client, to_client) = client.into_split();
    let (from_broker, to_broker) = broker.into_split();
    let link = Link {
        to_client: Mutex::new(to_client),
        to_broker: Mutex::new(to_broker),
        owed: std::sync::Mutex::new(OwedAcks::default()),
        denied: AtomicU64::new(0),
        user: connect.username.unwrap_or_default(),
        max: gate.max_packet,
        idle: idle_limit(connect.keep_alive),
    };
    // Either side ending ends both.
    tokio::select! {
        r = link.client_to_broker(from_client, |topic| gate.rules.may_publish(&who, topic)) => r,
        r = link.broker_to_client(from_broker, |topic| gate.rules.may_read(&who, topic)) => r,
    }
}

/// Acknowledgements owed to rumqttd for the messages it delivered, in its order: rumqttd drops
/// a client that acknowledges out of order, so the ack the gate owes for a message it kept
/// from the client waits until the client has acknowledged those before it.
#[derive(Default)]
struct OwedAcks {
    /// `(packet id, ack kind, done)`, oldest first.
    queue: VecDeque<(u16, u8, bool)>,
}

impl OwedAcks {
    /// rumqttd sent packet `id`, to be acknowledged with `kind`; `done` when the gate kept it.
    fn owe(&mut self, id: u16, kind: u8, done: bool) {
        // rumqttd holds at most its in-flight count per client; ids wrap at 65,536.
        if self.queue.len() >= usize::from(u16::MAX) {
            self.queue.pop_front();
        }
        self.queue.push_back((id, kind, done));
    }

    /// The client acknowledged `id`; `false` if it was not owed.
    fn done(&mut self, id: u16) -> bool {
        match self
            .queue
            .iter_mut()
            .find(|(i, _, done)| *i == id && !*done)
        {
            Some(entry) => {
                entry.2 = true;
                true
            }
            None => false,
        }
    }

    /// The acknowledgements that may go now, in order.
    fn ready(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(&(id, kind, true)) = self.queue.front() {
            self.queue.pop_front();
            out.push(Frame::ack(kind, id));
        }
        out
    }
}

/// One client's connection and its broker connection.
struct Link {
    to_client: Mutex<OwnedWriteHalf>,
    to_broker: Mutex<OwnedWriteHalf>,
    owed: std::sync::Mutex<OwedAcks>,
    denied: AtomicU64,
    user: String,
    max: usize,
    /// How long the client may stay silent.
    idle: Duration,
}

impl Link {
    fn note_denied(&self, what: &str, topic: &str) {
        let n = self.denied.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(user = %self.user, %topic, denied = n, "MQTT {what} refused: not the account's topic");
        }
    }

    async fn send(to: &Mutex<OwnedWriteHalf>, frames: &[Frame]) -> Result<(), PacketError> {
        let mut to = to.lock().await;
        for frame in frames {
            to.write_all(&frame.encode()).await?;
        }
        Ok(())
    }

    /// The acks owed to rumqttd that may go now.
    fn ready_acks(&self) -> Vec<Frame> {
        self.owed.lock().map(|mut o| o.ready()).unwrap_or_default()
    }

    /// The client's packets: a PUBLISH it may not make is dropped and acknowledged to it
    /// (a QoS 2 one's PUBREL answered too); its acks of what rumqttd sent go in rumqttd's order.
    async fn client_to_broker(
        &self,
        mut from: OwnedReadHalf,
        allowed: impl Fn(&str) -> bool,
    ) -> Result<(), PacketError> {
        let mut swallowed: HashSet<u16> = HashSet::new();
        loop {
            let next = tokio::time::timeout(self.idle, packet::read_frame(&mut from, self.max));
            let Some(frame) = next
                .await
                .map_err(|_| PacketError::Malformed("silent past 1.5 keep-alive periods"))??
            else {
                return Ok(());
            };
            match frame.kind() {
                kind::PUBLISH => {
                    let (topic, qos, id) = packet::publish_header(&frame)?;
                    if !allowed(&topic) {
                        self.note_denied("publish", &topic);
                        let ack = match (qos, id) {
                            (1, Some(id)) => Frame::ack(kind::PUBACK, id),
                            (2, Some(id)) => {
                                swallowed.insert(id);
                                Frame::ack(kind::PUBREC, id)
                            }
                            _ => continue,
                        };
                        Self::send(&self.to_client, &[ack]).await?;
                        continue;
                    }
                }
                kind::PUBREL => {
                    if let Some(id) = frame.ack_id().filter(|id| swallowed.remove(id)) {
                        Self::send(&self.to_client, &[Frame::ack(kind::PUBCOMP, id)]).await?;
                        continue;
                    }
                }
                kind::PUBACK | kind::PUBREC => {
                    let owed = frame
                        .ack_id()
                        .is_some_and(|id| self.owed.lock().is_ok_and(|mut o| o.done(id)));
                    if owed {
                        Self::send(&self.to_broker, &self.ready_acks()).await?;
                        continue;
                    }
                }
                _ => {}
            }
            Self::send(&self.to_broker, &[frame]).await?;
        }
    }

    /// rumqttd's packets: a message the client may not read is kept from it and acknowledged
    /// to rumqttd in turn (a QoS 2 one's PUBREL answered too).
    async fn broker_to_client(
        &self,
        mut from: OwnedReadHalf,
        allowed: impl Fn(&str) -> bool,
    ) -> Result<(), PacketError> {
        let mut swallowed: HashSet<u16> = HashSet::new();
        while let Some(frame) = packet::read_frame(&mut from, self.max).await? {
            match frame.kind() {
                kind::PUBLISH => {
                    let (topic, qos, id) = packet::publish_header(&frame)?;
                    let keep = !allowed(&topic);
                    if let Some(id) = id {
                        let ack = if qos == 2 { kind::PUBREC } else { kind::PUBACK };
                        if keep && qos == 2 {
                            swallowed.insert(id);
                        }
                        if let Ok(mut owed) = self.owed.lock() {
                            owed.owe(id, ack, keep);
                        }
                    }
                    if keep {
                        self.note_denied("read", &topic);
                        Self::send(&self.to_broker, &self.ready_acks()).await?;
                        continue;
                    }
                }
                kind::PUBREL => {
                    if let Some(id) = frame.ack_id().filter(|id| swallowed.remove(id)) {
                        Self::send(&self.to_broker, &[Frame::ack(kind::PUBCOMP, id)]).await?;
                        continue;
                    }
                }
                _ => {}
            }
            Self::send(&self.to_client, &[frame]).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owed_acks_go_in_rumqttds_order() {
        let mut owed = OwedAcks::default();
        owed.owe(3, kind::PUBACK, false); // with the client
        owed.owe(4, kind::PUBACK, true); // kept from it
        owed.owe(5, kind::PUBREC, true);
        assert!(owed.ready().is_empty(), "4 waits for the client's ack of 3");
        assert!(!owed.done(9), "not owed");
        assert!(owed.done(3));
        let ids: Vec<_> = owed
            .ready()
            .iter()
            .map(|f| (f.kind(), f.ack_id()))
            .collect();
        assert_eq!(
            ids,
            vec![
                (kind::PUBACK, Some(3)),
                (kind::PUBACK, Some(4)),
                (kind::PUBREC, Some(5))
            ]
        );
        assert!(owed.ready().is_empty());
    }

    #[test]
    fn silence_is_bounded_by_the_keep_alive() {
        assert_eq!(idle_limit(60), Duration::from_secs(90));
        assert_eq!(idle_limit(0), MAX_IDLE, "no keep-alive still ends");
        assert_eq!(idle_limit(u16::MAX), MAX_IDLE);
    }

    #[test]
    fn logins_are_checked_whole() {
        let gate = Gate {
            logins: vec![Login {
                username: "kitchen".into(),
                password: "pw".into(),
                who: Who::Box,
            }],
            rules: Rules {
                prefix: "xpressify".into(),
                discovery: "homeassistant".into(),
            },
            upstream: SocketAddr::from(([127, 0, 0, 1], 1)),
            upstream_login: None,
            max_packet: 1024,
        };
        let connect = |user: Option<&str>, password: Option<&[u8]>| Connect {
            level: 4,
            clean_session: true,
            keep_alive: 30,
            client_id: "c".into(),
            will: None,
            username: user.map(Into::into),
            password: password.map(<[u8]>::to_vec),
        };
        assert_eq!(
            gate.login(&connect(Some("kitchen"), Some(b"pw"))),
            Ok(Who::Box)
        );
        assert_eq!(gate.login(&connect(Some("kitchen"), Some(b"pw2"))), Err(4));
        assert_eq!(gate.login(&connect(Some("kitche"), Some(b"pw"))), Err(4));
        assert_eq!(gate.login(&connect(None, None)), Err(5));
    }
}
