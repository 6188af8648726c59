//! The device's MQTT connection: last-will, `online` on every connect, Home Assistant
//! discovery on connect and whenever Home Assistant restarts, reconnect with backoff; the
//! privacy switch's state out on `…/camera` and requests in on `…/camera/set`.
//!
//! As in rumqttc itself, the caller owns the event loop: [`Session::run`] polls it on the
//! caller's task and logs each state change; nothing hides a thread. What the session learns
//! for the rest of the device — whether the broker is there, what the companion is playing —
//! it offers as [`tokio::sync::watch`] channels, so a slow reader (a panel) never holds it up.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};
use xpressify_protocol::client::{MAX_RECONNECT_WAIT, MIN_RECONNECT_WAIT};
use xpressify_protocol::discovery::{self, DeviceFeatures, DeviceInfo};
use xpressify_protocol::topics;
use xpressify_protocol::{Availability, Calibration, CameraState, MoodEvent, NowPlaying, Topics};

use crate::config::DeviceConfig;
use crate::privacy::CameraSwitch;
use crate::vision::pipeline::Update;

/// One device's connection to the broker.
pub struct Session {
    client: AsyncClient,
    eventloop: EventLoop,
    topics: Topics,
    companion_topic: String,
    discovery_prefix: Option<String>,
    info: DeviceInfo,
    features: DeviceFeatures,
    camera: Arc<CameraSwitch>,
    camera_on: watch::Receiver<bool>,
    backoff: Duration,
    connected: bool,
    latest_mood: Option<MoodEvent>,
    link: watch::Sender<bool>,
    companion_online: watch::Sender<bool>,
    now_playing: watch::Sender<Option<NowPlaying>>,
    calibration: watch::Sender<Option<Calibration>>,
    junk: u64,
}

impl Session {
    /// Prepares the connection (nothing is sent until [`Session::run`] polls); `camera` is
    /// the privacy switch it reports and turns.
    pub fn new(config: &DeviceConfig, camera: Arc<CameraSwitch>) -> anyhow::Result<Self> {
        let topics = config.topics().context("mqtt.prefix / mqtt.device_id")?;
        let broker = config.broker()?;
        let mut options = config.mqtt_options()?;
        options.set_last_will(LastWill::new(
            topics.availability(),
            Availability::Offline.encode(),
            QoS::AtLeastOnce,
            true,
        ));
        let (client, eventloop) = AsyncClient::new(options, 64);
        info!(broker = %broker, device_id = topics.device_id(), "MQTT session prepared");
        Ok(Session {
            client,
            eventloop,
            companion_topic: topics::companion_availability(topics.prefix()),
            topics,
            discovery_prefix: config
                .homeassistant
                .discovery
                .then(|| config.homeassistant.discovery_prefix.clone()),
            info: DeviceInfo {
                name: config.display_name(),
                model: format!("Xpressify device ({})", std::env::consts::ARCH),
                sw_version: env!("CARGO_PKG_VERSION").to_string(),
                configuration_url: Some(config.homeassistant.configuration_url.clone())
                    .filter(|u| !u.is_empty()),
            },
            features: DeviceFeatures {
                cpu_temperature: crate::health::cpu_temperature().is_some(),
            },
            camera_on: camera.subscribe(),
            camera,
            backoff: MIN_RECONNECT_WAIT,
            connected: false,
            latest_mood: None,
            link: watch::Sender::new(false),
            companion_online: watch::Sender::new(false),
            now_playing: watch::Sender::new(None),
            calibration: watch::Sender::new(None),
            junk: 0,
        })
    }

    /// Follows whether the broker is connected (for the display's "offline" mark and the
    /// status LED).
    pub fn watch_link(&self) -> watch::Receiver<bool> {
        self.link.subscribe()
    }

    /// Follows whether the companion says it is online (`<prefix>/companion/availability`);
    /// false until it has been heard.
    pub fn watch_companion(&self) -> watch::Receiver<bool> {
        self.companion_online.subscribe()
    }

    /// Follows what the companion says this device's speaker plays (`…/now_playing`);
    /// `None` until the first valid message. Invalid payloads are logged and skipped.
    pub fn watch_now_playing(&self) -> watch::Receiver<Option<NowPlaying>> {
        self.now_playing.subscribe()
    }

    /// Publishes the calibration the companion fits for this device (`…/calibration`,
    /// retained, so it comes back after a restart) into `to`, whose receivers the vision
    /// loop holds (made before the session); `None` until the first valid one. Invalid
    /// payloads, or ones for another device, are refused, counted and logged, and the
    /// calibration in use stays.
    pub fn with_calibration(mut self, to: watch::Sender<Option<Calibration>>) -> Self {
        self.calibration = to;
        self
    }

    fn take_calibration(&mut self, payload: &[u8]) {
        match Calibration::decode(payload) {
            Ok(c) if c.device_id == self.topics.device_id() => {
                info!(
                    version = c.version,
                    corrections = c.corrections,
                    "calibration received"
                );
                self.calibration.send_replace(Some(c));
            }
            Ok(c) => {
                let why = format!("device_id {:?} is not this device", c.device_id);
                self.refuse("calibration", why);
            }
            Err(e) => self.refuse("calibration", e),
        }
    }

    /// Drives the connection and publishes what `updates` brings, until `stop` completes or
    /// the updates end; then says `offline` and disconnects. The newest mood is kept while
    /// the broker is away and published again on every (re)connection.
    pub async fn run(
        mut self,
        mut updates: Option<mpsc::Receiver<Update>>,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::pin!(stop);
        loop {
            let next_update = async {
                match updates.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = self.eventloop.poll() => self.handle(event).await?,
                Ok(()) = self.camera_on.changed() => self.publish_camera(),
                update = next_update => match update {
                    Some(update) => self.publish_update(update),
                    None => break,
                },
                () = &mut stop => break,
            }
        }
        // What was handed over before the stop still goes out (e.g. a last button press).
        if let Some(rx) = updates.as_mut() {
            while let Ok(update) = rx.try_recv() {
                self.publish_update(update);
            }
        }
        self.shutdown().await
    }

    fn publish_update(&mut self, update: Update) {
        match update {
            Update::Mood(event) => {
                if self.connected {
                    self.try_publish(self.topics.mood(), event.encode(), true);
                }
                self.latest_mood = Some(event);
            }
            Update::Probabilities(event) if self.connected => {
                self.try_publish(self.topics.probabilities(), event.encode(), false);
            }
            Update::Probabilities(_) => {}
            Update::Event(change) if self.connected => {
                self.try_publish(self.topics.event(), change.encode(), false);
            }
            Update::Event(_) => {
                debug!("a mood change while the broker is away: its event is not sent later");
            }
            Update::Diagnostics(report) if self.connected => {
                self.try_publish(self.topics.diagnostics(), report.encode(), true);
            }
            Update::Diagnostics(_) => {}
            Update::Command(command) if self.connected => {
                info!(command = command.name(), "button: publishing command");
                self.try_publish(self.topics.command(), command.encode(), false);
            }
            Update::Command(command) => {
                warn!(
                    command = command.name(),
                    "button pressed while the broker is away: ignored"
                );
            }
        }
    }

    /// The privacy switch's state, retained.
    fn publish_camera(&mut self) {
        let state = CameraState::from_on(*self.camera_on.borrow_and_update());
        if self.connected {
            self.try_publish(self.topics.camera(), state.encode(), true);
        }
    }

    fn set_connected(&mut self, connected: bool) {
        self.connected = connected;
        self.link
            .send_if_modified(|c| std::mem::replace(c, connected) != connected);
    }

    fn take_now_playing(&mut self, payload: &[u8]) {
        match NowPlaying::decode(payload) {
            Ok(playing) => {
                info!(title = %playing.title, state = ?playing.state, "now playing");
                self.now_playing.send_replace(Some(playing));
            }
            Err(e) => self.refuse("now_playing", e),
        }
    }

    /// Counts and logs a payload that breaks the contract; the connection and the device go
    /// on. The total is logged again when the session stops.
    fn refuse(&mut self, what: &str, error: impl std::fmt::Display) {
        self.junk += 1;
        warn!(%error, total = self.junk, "ignoring an invalid {what} message");
    }

    /// Queues a publish without waiting: the event loop is polled by this same task, so
    /// waiting on a full queue would never end.
    fn try_publish(&self, topic: String, payload: Vec<u8>, retain: bool) {
        if let Err(e) = self
            .client
            .try_publish(topic.clone(), QoS::AtLeastOnce, retain, payload)
        {
            warn!(%topic, error = %e, "publish queue full; message dropped");
        }
    }

    async fn handle(
        &mut self,
        event: Result<Event, rumqttc::ConnectionError>,
    ) -> anyhow::Result<()> {
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                info!(device_id = self.topics.device_id(), "connected to broker");
                self.set_connected(true);
                self.backoff = MIN_RECONNECT_WAIT;
                publish(
                    &self.client,
                    self.topics.availability(),
                    Availability::Online.encode(),
                    true,
                )
                .await?;
                self.publish_camera();
                for topic in [
                    self.topics.now_playing(),
                    self.companion_topic.clone(),
                    self.topics.camera_set(),
                    self.topics.calibration(),
                ] {
                    self.client
                        .subscribe(topic.clone(), QoS::AtLeastOnce)
                        .await
                        .with_context(|| format!("subscribing to {topic}"))?;
                }
                if let Some(prefix) = self.discovery_prefix.clone() {
                    self.client
                        .subscribe(discovery::status_topic(&prefix), QoS::AtLeastOnce)
                        .await
                        .context("subscribing to Home Assistant's status")?;
                    self.announce(&prefix).await?;
                }
                if let Some(mood) = &self.latest_mood {
                    self.try_publish(self.topics.mood(), mood.encode(), true);
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == self.topics.now_playing() => {
                self.take_now_playing(&p.payload);
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == self.topics.camera_set() => {
                match CameraState::decode(&p.payload) {
                    Ok(state) => {
                        self.camera.set(state.is_on(), "MQTT camera/set");
                    }
                    Err(e) => self.refuse("camera/set", e),
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == self.topics.calibration() => {
                self.take_calibration(&p.payload);
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == self.companion_topic => {
                match Availability::decode(&p.payload) {
                    Ok(a) => {
                        let online = a == Availability::Online;
                        info!(online, "companion availability");
                        self.companion_online.send_replace(online);
                    }
                    Err(e) => self.refuse("companion availability", e),
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Some(prefix) = self.discovery_prefix.clone() else {
                    return Ok(());
                };
                if p.topic != discovery::status_topic(&prefix) {
                    return Ok(());
                }
                match Availability::decode(&p.payload) {
                    Ok(Availability::Online) => {
                        info!("Home Assistant came online: announcing again");
                        self.announce(&prefix).await?;
                    }
                    Ok(Availability::Offline) => info!("Home Assistant went offline"),
                    Err(e) => self.refuse("Home Assistant status", e),
                }
            }
            Ok(other) => debug!(?other, "mqtt event"),
            Err(e) => {
                let error = match xpressify_protocol::client::explain(&e) {
                    "" => e.to_string(),
                    hint => format!("{e} ({hint})"),
                };
                if self.connected {
                    warn!(%error, "lost the broker; reconnecting");
                } else {
                    warn!(%error, retry_in = ?self.backoff, "broker unreachable");
                }
                self.set_connected(false);
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(MAX_RECONNECT_WAIT);
            }
        }
        Ok(())
    }

    async fn announce(&mut self, prefix: &str) -> anyhow::Result<()> {
        let messages =
            discovery::discovery_messages(prefix, &self.topics, &self.info, self.features);
        let count = messages.len();
        for m in messages {
            publish(&self.client, m.topic.clone(), m.encode(), true).await?;
        }
        info!(entities = count, "published Home Assistant discovery");
        Ok(())
    }

    /// Publishes `offline`, disconnects and flushes for at most two seconds.
    async fn shutdown(mut self) -> anyhow::Result<()> {
        info!(refused = self.junk, "MQTT session ending");
        if !self.connected {
            info!("stopping (broker was not connected)");
            return Ok(());
        }
        publish(
            &self.client,
            self.topics.availability(),
            Availability::Offline.encode(),
            true,
        )
        .await?;
        self.client
            .disconnect()
            .await
            .context("queueing disconnect")?;
        let flush = async {
            while let Ok(event) = self.eventloop.poll().await {
                if let Event::Outgoing(rumqttc::Outgoing::Disconnect) = event {
                    break;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(2), flush)
            .await
            .is_err()
        {
            warn!("broker did not take the goodbye within 2 s; the last-will will say offline");
        }
        info!("disconnected");
        Ok(())
    }
}

/// Queues a QoS 1 publish. A free function rather than a method: holding `&Session` across
/// the await would make the session's future `!Send` (rumqttc's event loop is not `Sync`),
/// and the one-box binary runs it on a multi-threaded runtime.
async fn publish(
    client: &AsyncClient,
    topic: String,
    payload: Vec<u8>,
    retain: bool,
) -> anyhow::Result<()> {
    client
        .publish(topic.clone(), QoS::AtLeastOnce, retain, payload)
        .await
        .with_context(|| format!("queueing a publish on {topic}"))
}
