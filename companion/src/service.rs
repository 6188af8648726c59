//! `xpressify-companion run`: the service. One task owns the MQTT client, the schedule,
//! the recommender and the sink, and reacts to four things — an event from the broker, a
//! command from the HTTP API, a one-second tick, and the stop signal — so every decision is
//! made in one place, in order. The broker itself is read on a thread of its own
//! ([`crate::mqtt_reader`]) and moods are committed on another ([`crate::mood_writer`]), so
//! whatever this task waits on, the companion goes on reading.
//!
//! The music follows the newest mood of any online device (a household has one speaker);
//! `now_playing` is published, retained, for every device known, so each display shows it.
//! A device becomes known only by a valid mood or an `online` availability message, and at
//! most `mqtt.max_devices` are kept (see [`Service::admit`]), so made-up ids on the LAN cost
//! bounded memory and work. Junk payloads are counted and logged, never fatal; a broker that
//! is down is retried with back-off while playback goes on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event, LastWill, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};
use xpressify_protocol::topics::{self, Channel};
use xpressify_protocol::{
    Availability, Command, Emotion, MoodEvent, NowPlaying, PlaybackState, SCHEMA_VERSION, Topics,
};

use crate::clock::now_ms;
use crate::config::CompanionConfig;
use crate::mood_writer::MoodWriter;
use crate::mqtt_reader::{BrokerEvent, MqttReader};
use crate::recommend::Recommender;
use crate::schedule::{Action, Player, Schedule};
use crate::sink::{AnySink, PlayItem, PlaybackSink, SinkEvent};
use crate::store::{MoodRecord, PickRecord, PlayOutcome, Store};
use crate::taste::Feedback;

pub use crate::status::{Budget, DeviceView, Status};

/// How long to wait after a failed start before trying again.
const RETRY_AFTER_MS: u64 = 15_000;

/// Picks in a row the sink may fail to play before the service pauses for `RETRY_AFTER_MS`.
const MAX_FAILURES_IN_A_ROW: u32 = 3;

/// A request from the HTTP API.
#[derive(Debug)]
pub enum Control {
    /// A listener's command, as on the MQTT `command` topic.
    Command(Command),
}

/// The playing pick.
struct Current {
    pick: PickRecord,
    play_id: i64,
    paused: bool,
    since_ms: u64,
}

/// The service's state.
pub struct Service {
    config: CompanionConfig,
    store: Arc<Store>,
    /// Moods go to the store through this, off the service's task (see [`crate::mood_writer`]).
    moods: MoodWriter,
    recommender: Arc<Recommender>,
    sink: AnySink,
    schedule: Schedule,
    current: Option<Current>,
    /// The last pick that played, shown as stopped when nothing plays.
    last_pick: Option<PickRecord>,
    devices: BTreeMap<String, DeviceView>,
    mood_device: Option<String>,
    retry_at_ms: u64,
    /// Picks in a row that the sink could not play.
    failures: u32,
    status: watch::Sender<Status>,
    problem: Option<String>,
    refused: BTreeMap<String, u64>,
    /// Messages the broker reader dropped (see [`crate::mqtt_reader::QUEUE_BYTES`]).
    dropped: u64,
    connected: bool,
}

impl Service {
    /// A service; `status` is where it reports for the HTTP API. Fails only if the thread that
    /// writes moods cannot be started.
    pub fn new(
        config: CompanionConfig,
        store: Arc<Store>,
        recommender: Arc<Recommender>,
        sink: AnySink,
        status: watch::Sender<Status>,
    ) -> std::io::Result<Self> {
        let schedule = Schedule::new(config.timing());
        let moods = MoodWriter::start(store.clone())?;
        Ok(Service {
            config,
            store,
            moods,
            recommender,
            sink,
            schedule,
            current: None,
            last_pick: None,
            devices: BTreeMap::new(),
            mood_device: None,
            retry_at_ms: 0,
            failures: 0,
            status,
            problem: None,
            refused: BTreeMap::new(),
            dropped: 0,
            connected: false,
        })
    }

    /// Runs until `stop` resolves; then stops the sink and says goodbye on the broker.
    pub async fn run(
        mut self,
        mut control: mpsc::Receiver<Control>,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let broker = self.config.broker()?;
        let mut options = self.config.mqtt_options()?;
        let prefix = self.config.mqtt.prefix.clone();
        let availability = topics::companion_availability(&prefix);
        options.set_last_will(LastWill::new(
            &availability,
            Availability::Offline.encode(),
            QoS::AtLeastOnce,
            true,
        ));
        let (client, eventloop) = AsyncClient::new(options, 64);
        let mut broker_events =
            MqttReader::start(eventloop).context("starting the thread that reads the broker")?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.publish_status();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                event = broker_events.next() => match event {
                    Some(BrokerEvent::Event(Event::Incoming(Packet::ConnAck(_)))) => {
                        info!(broker = %broker, "connected; listening to {prefix}/+/…");
                        self.connected = true;
                        for channel in [Channel::Mood, Channel::Availability, Channel::Command] {
                            let _ = client
                                .subscribe(topics::all_devices(&prefix, channel), QoS::AtLeastOnce)
                                .await;
                        }
                        let _ = client
                            .publish(&availability, QoS::AtLeastOnce, true, Availability::Online.encode())
                            .await;
                        self.publish_now_playing(&client).await;
                        self.publish_status();
                    }
                    Some(BrokerEvent::Event(Event::Incoming(Packet::Publish(p)))) => {
                        self.dropped = broker_events.dropped();
                        if let Some((device, channel)) = topics::parse(&prefix, &p.topic) {
                            self.on_message(&client, device, channel, &p.payload).await;
                        }
                    }
                    Some(BrokerEvent::Event(_)) => {}
                    Some(BrokerEvent::Lost { error, retry_in }) => {
                        if self.connected {
                            warn!(error = %error, "lost the broker");
                        } else {
                            warn!(error = %error, hint = xpressify_protocol::client::explain(&error), retry_in = ?retry_in, "broker unreachable");
                        }
                        // The player goes on ticking meanwhile.
                        self.connected = false;
                        self.publish_status();
                    }
                    None => anyhow::bail!("the thread that reads the broker stopped; its reason is logged above"),
                },
                Some(Control::Command(command)) = control.recv() => {
                    self.on_command(&client, command).await;
                }
                _ = tick.tick() => self.on_tick(&client).await,
            }
        }
        if let Some(current) = self.current.take() {
            self.end_play(current.play_id, PlayOutcome::Stopped, now_ms());
        }
        let moods = self.moods.close();
        info!(
            stored = moods.stored,
            commits = moods.commits,
            lost = moods.lost,
            "moods written"
        );
        let _ = self.sink.stop().await;
        let _ = client
            .publish(
                &availability,
                QoS::AtLeastOnce,
                true,
                Availability::Offline.encode(),
            )
            .await;
        // Let the goodbye reach the broker before disconnecting.
        broker_events
            .until_sent(
                |o| matches!(o, rumqttc::Outgoing::Publish(_)),
                Duration::from_secs(2),
            )
            .await;
        // A clean goodbye, so the broker does not also send the last will.
        let _ = client.disconnect().await;
        broker_events
            .until_sent(
                |o| matches!(o, rumqttc::Outgoing::Disconnect),
                Duration::from_secs(1),
            )
            .await;
        broker_events.close();
        Ok(())
    }

    fn refuse(&mut self, channel: Channel, topic_device: &str, error: impl std::fmt::Display) {
        *self
            .refused
            .entry(channel.as_str().to_string())
            .or_default() += 1;
        warn!(device = topic_device, channel = channel.as_str(), error = %error, "refused payload");
        self.publish_status();
    }

    async fn on_message(
        &mut self,
        client: &AsyncClient,
        device: String,
        channel: Channel,
        payload: &[u8],
    ) {
        let now = now_ms();
        match channel {
            Channel::Mood => match MoodEvent::decode(payload) {
                Ok(mood) if mood.device_id == device => {
                    if !self.admit(client, &device, now).await {
                        return;
                    }
                    if let Some(view) = self.devices.get_mut(&device) {
                        if view.emotion != mood.emotion || view.since_ms == 0 {
                            view.since_ms = now;
                        }
                        view.emotion = mood.emotion;
                        view.confidence = mood.confidence;
                        view.probabilities = *mood.probabilities.values();
                        // A mood is sent only while the device runs.
                        view.online = true;
                    }
                    // The companion's clock, not the device's: a Pi without a clock battery
                    // may be hours off, and the history lines moods up with picks.
                    self.moods.record(MoodRecord {
                        device: device.clone(),
                        emotion: mood.emotion,
                        confidence: mood.confidence,
                        at_ms: now,
                    });
                    if mood.emotion.is_some() {
                        self.mood_device = Some(device.clone());
                    }
                    self.schedule.on_mood(mood.emotion, now);
                    info!(%device, emotion = ?mood.emotion, confidence = mood.confidence, "mood");
                }
                Ok(mood) => {
                    let why = format!("device_id {:?} differs from the topic's", mood.device_id);
                    self.refuse(channel, &device, why);
                }
                Err(e) => self.refuse(channel, &device, e),
            },
            Channel::Availability => match Availability::decode(payload) {
                Ok(a) => {
                    let online = a == Availability::Online;
                    // An unknown device saying it is offline has nothing to show.
                    if (online || self.devices.contains_key(&device))
                        && self.admit(client, &device, now).await
                        && let Some(view) = self.devices.get_mut(&device)
                    {
                        view.online = online;
                    }
                }
                Err(e) => self.refuse(channel, &device, e),
            },
            Channel::Command => match Command::decode(payload) {
                Ok(command) => {
                    info!(%device, command = command.name(), "command");
                    self.on_command(client, command).await;
                }
                Err(e) => self.refuse(channel, &device, e),
            },
            Channel::Probabilities | Channel::NowPlaying => {}
        }
        self.publish_status();
    }

    /// Makes `device` known, after a valid message from it; `false` when it cannot be.
    ///
    /// A known device is only marked as heard. A new one gets the current `now_playing` for
    /// its display (it alone: the others have it). Past `mqtt.max_devices`, the offline
    /// device heard least recently is forgotten (its retained `now_playing` cleared); when
    /// every device is online the newcomer is ignored and counted (`refused.devices`), so a
    /// flood of made-up ids can neither grow the table nor push out the household's boxes.
    async fn admit(&mut self, client: &AsyncClient, device: &str, now: u64) -> bool {
        if let Some(view) = self.devices.get_mut(device) {
            view.heard_ms = now;
            return true;
        }
        if self.devices.len() >= self.config.mqtt.max_devices as usize {
            let oldest_offline = self
                .devices
                .values()
                .filter(|d| !d.online)
                .min_by_key(|d| d.heard_ms)
                .map(|d| d.id.clone());
            let Some(old) = oldest_offline else {
                let ignored = self.refused.entry("devices".into()).or_default();
                *ignored += 1;
                if ignored.is_power_of_two() {
                    warn!(
                        %device,
                        ignored = *ignored,
                        max_devices = self.config.mqtt.max_devices,
                        "a new device was ignored: every known one is online (mqtt.max_devices)"
                    );
                }
                return false;
            };
            self.devices.remove(&old);
            info!(device = %old, "forgot an offline device to make room (mqtt.max_devices)");
            if let Ok(topics) = Topics::new(&self.config.mqtt.prefix, &old) {
                // An empty retained message deletes the retained one.
                let _ = client
                    .publish(topics.now_playing(), QoS::AtLeastOnce, true, Vec::new())
                    .await;
            }
        }
        self.devices.insert(
            device.to_string(),
            DeviceView {
                id: device.to_string(),
                online: true,
                emotion: None,
                confidence: 0.0,
                since_ms: 0,
                probabilities: [0.0; 7],
                heard_ms: now,
            },
        );
        // A new device: give it the current state for its display.
        self.publish_now_playing_to(client, device).await;
        true
    }

    fn player(&self) -> Player {
        match &self.current {
            Some(c) if c.paused => Player::Paused,
            Some(_) => Player::Playing,
            None => Player::Idle,
        }
    }

    async fn on_tick(&mut self, client: &AsyncClient) {
        match self.sink.poll().await {
            Ok(Some(SinkEvent::Ended)) => {
                self.failures = 0;
                if let Some(current) = self.current.take() {
                    self.end_play(current.play_id, PlayOutcome::PlayedOut, now_ms());
                    self.learn(&current.pick, Feedback::PlayedOut);
                }
                if let Some(action) = self.schedule.on_ended() {
                    self.act(client, action).await;
                } else {
                    self.publish_now_playing(client).await;
                }
            }
            Ok(Some(SinkEvent::Failed(why))) => {
                warn!(error = %why, "the pick could not play");
                if let Some(current) = self.current.take() {
                    self.end_play(current.play_id, PlayOutcome::Failed, now_ms());
                }
                self.problem = Some(why);
                self.failures += 1;
                let next = self.schedule.on_ended();
                if self.failures >= MAX_FAILURES_IN_A_ROW {
                    // Every pick fails (e.g. mpv without yt-dlp): stop hammering the sink;
                    // the tick starts again after a pause.
                    self.retry_at_ms = now_ms() + RETRY_AFTER_MS;
                    self.failures = 0;
                } else if let Some(action) = next {
                    self.act(client, action).await;
                }
            }
            Ok(None) => {}
            Err(e) => {
                warn!(error = %e, "player");
                self.problem = Some(e.to_string());
            }
        }
        let now = now_ms();
        if now >= self.retry_at_ms
            && let Some(action) = self.schedule.on_tick(self.player(), now)
        {
            self.act(client, action).await;
        }
        self.publish_status();
    }

    /// Starts a pick for `action`'s mood (cutting the current one for a switch).
    async fn act(&mut self, client: &AsyncClient, action: Action) {
        let (mood, outcome) = match action {
            Action::Start(m) => (m, PlayOutcome::PlayedOut),
            Action::Switch(m) => (m, PlayOutcome::Replaced),
        };
        self.start(client, mood, outcome).await;
    }

    /// Notes how a play ended; a failed write is logged (the history then lacks its end).
    fn end_play(&self, play_id: i64, outcome: PlayOutcome, now: u64) {
        if let Err(e) = self.store.end_play(play_id, outcome, now) {
            warn!(error = %e, play_id, outcome = outcome.as_str(), "cannot record how a play ended");
        }
    }

    async fn start(&mut self, client: &AsyncClient, mood: Emotion, previous_outcome: PlayOutcome) {
        let now = now_ms();
        let device = self
            .mood_device
            .clone()
            .unwrap_or_else(|| "companion".into());
        let pick = match self.recommender.pick(&device, mood, now).await {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "no pick");
                self.problem = Some(e.to_string());
                self.retry_at_ms = now + RETRY_AFTER_MS;
                return;
            }
        };
        let item = PlayItem {
            pick_id: pick.id,
            track: pick.track.clone(),
            title: pick.title.clone(),
            artist: pick.artist.clone(),
        };
        if let Err(e) = self.sink.play(&item).await {
            warn!(error = %e, "cannot play the pick");
            self.problem = Some(e.to_string());
            self.retry_at_ms = now + RETRY_AFTER_MS;
            return;
        }
        if let Some(old) = self.current.take() {
            self.end_play(old.play_id, previous_outcome, now);
        }
        let play_id = self
            .store
            .start_play(pick.id, self.sink.name(), now)
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot record the play");
                0
            });
        info!(%mood, title = %pick.title, query = %pick.query, sink = self.sink.name(), "playing");
        self.schedule.on_started(mood);
        self.problem = None;
        self.last_pick = Some(pick.clone());
        self.current = Some(Current {
            pick,
            play_id,
            paused: false,
            since_ms: now,
        });
        self.publish_now_playing(client).await;
    }

    fn learn(&self, pick: &PickRecord, feedback: Feedback) {
        if let Err(e) = self.recommender.learn(pick, feedback) {
            warn!(error = %e, "cannot record feedback");
        }
    }

    async fn on_command(&mut self, client: &AsyncClient, command: Command) {
        let result = match command {
            Command::Play => match &mut self.current {
                Some(c) if c.paused => {
                    c.paused = false;
                    c.since_ms = now_ms();
                    self.sink.resume().await
                }
                Some(_) => Ok(()),
                None => {
                    let mood = self.schedule.mood().unwrap_or(Emotion::Neutral);
                    self.start(client, mood, PlayOutcome::PlayedOut).await;
                    Ok(())
                }
            },
            Command::Pause => match &mut self.current {
                Some(c) if !c.paused => {
                    c.paused = true;
                    c.since_ms = now_ms();
                    self.sink.pause().await
                }
                _ => Ok(()),
            },
            Command::Skip | Command::Dislike => {
                let feedback = if command == Command::Skip {
                    Feedback::Skip
                } else {
                    Feedback::Dislike
                };
                let mood = match &self.current {
                    Some(c) => {
                        self.learn(&c.pick, feedback);
                        self.schedule.mood().unwrap_or(c.pick.mood)
                    }
                    None => self.schedule.mood().unwrap_or(Emotion::Neutral),
                };
                let outcome = if command == Command::Skip {
                    PlayOutcome::Skipped
                } else {
                    PlayOutcome::Disliked
                };
                self.start(client, mood, outcome).await;
                Ok(())
            }
            Command::Like => {
                if let Some(c) = &self.current {
                    self.learn(&c.pick, Feedback::Like);
                }
                Ok(())
            }
            Command::SetVolume { volume } => self.sink.set_volume(volume).await,
        };
        if let Err(e) = result {
            warn!(error = %e, command = command.name(), "player");
            self.problem = Some(e.to_string());
        }
        self.publish_now_playing(client).await;
        self.publish_status();
    }

    /// The playing pick, or the last one as stopped; `None` before the first.
    fn now_playing(&self) -> Option<NowPlaying> {
        let (pick, state, since) = match (&self.current, &self.last_pick) {
            (Some(c), _) if c.paused => (&c.pick, PlaybackState::Paused, c.since_ms),
            (Some(c), _) => (&c.pick, PlaybackState::Playing, c.since_ms),
            (None, Some(last)) => (last, PlaybackState::Stopped, last.at_ms),
            (None, None) => return None,
        };
        Some(NowPlaying {
            schema: SCHEMA_VERSION,
            title: pick.title.clone(),
            artist: pick.artist.clone(),
            track: pick.track.clone(),
            mood: pick.mood,
            state,
            timestamp_ms: since,
        })
    }

    /// Publishes `now_playing` (retained) to every device known.
    async fn publish_now_playing(&self, client: &AsyncClient) {
        let Some(payload) = self.now_playing().map(|n| n.encode()) else {
            return;
        };
        for device in self.devices.keys() {
            publish_retained_now_playing(client, &self.config.mqtt.prefix, device, &payload).await;
        }
    }

    /// Publishes `now_playing` (retained) to `device` alone.
    async fn publish_now_playing_to(&self, client: &AsyncClient, device: &str) {
        if let Some(payload) = self.now_playing().map(|n| n.encode()) {
            publish_retained_now_playing(client, &self.config.mqtt.prefix, device, &payload).await;
        }
    }

    fn publish_status(&self) {
        let status = Status {
            mood: self.schedule.mood(),
            mood_device: self.mood_device.clone(),
            now_playing: self.now_playing(),
            pick_id: self.current.as_ref().map(|c| c.pick.id),
            devices: self.devices.values().cloned().collect(),
            broker_connected: self.connected,
            youtube: self.recommender.youtube().map(|y| y.health()),
            youtube_budget: Some(Budget {
                spent: self
                    .store
                    .searches_since(crate::source::quota_day::day_start_ms(now_ms()))
                    .unwrap_or(0),
                budget: self.config.youtube.daily_budget,
                resets_ms: crate::source::quota_day::next_reset_ms(now_ms()),
            }),
            policy: Some(self.recommender.mapping().policy),
            sink: self.sink.name().to_string(),
            problem: self.problem.clone(),
            refused: self.refused.clone(),
            dropped: self.dropped,
        };
        self.status.send_if_modified(|s| {
            if *s == status {
                false
            } else {
                *s = status;
                true
            }
        });
    }
}

async fn publish_retained_now_playing(
    client: &AsyncClient,
    prefix: &str,
    device: &str,
    payload: &[u8],
) {
    if let Ok(topics) = Topics::new(prefix, device) {
        let _ = client
            .publish(
                topics.now_playing(),
                QoS::AtLeastOnce,
                true,
                payload.to_vec(),
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Mapping;
    use crate::sink::WebSink;
    use crate::source::LocalCatalogue;

    /// Only valid messages make a device known, at most `mqtt.max_devices` are kept, an
    /// offline one makes room, and a newcomer is ignored while all are online.
    #[tokio::test]
    async fn devices_are_admitted_by_valid_messages_within_the_cap() {
        let store = Arc::new(Store::in_memory().expect("store"));
        let mut config = CompanionConfig::default();
        config.mqtt.max_devices = 3;
        let recommender = Arc::new(
            Recommender::new(
                store.clone(),
                None,
                None,
                Mapping::default(),
                config.recommend_options(),
                Some(5),
            )
            .expect("recommender"),
        );
        let (sink, _page) = WebSink::new(50);
        let (status, _) = watch::channel(Status::default());
        let mut service =
            Service::new(config, store, recommender, AnySink::Web(sink), status).expect("service");
        // Room for every publish without a broker reading them.
        let (client, _eventloop) =
            AsyncClient::new(rumqttc::MqttOptions::new("t", "127.0.0.1", 1), 1000);
        let online = Availability::Online.encode();
        let offline = Availability::Offline.encode();
        let ids = |s: &Service| s.devices.keys().cloned().collect::<Vec<_>>();

        // Junk, a mismatched mood and an unknown device's goodbye register nothing.
        service
            .on_message(&client, "junk".into(), Channel::Availability, b"maybe")
            .await;
        service
            .on_message(&client, "junk".into(), Channel::Mood, b"{}")
            .await;
        service
            .on_message(&client, "gone".into(), Channel::Availability, &offline)
            .await;
        assert!(service.devices.is_empty(), "{:?}", ids(&service));
        assert_eq!(service.refused.get("availability"), Some(&1));

        for id in ["a", "b", "c"] {
            service
                .on_message(&client, id.into(), Channel::Availability, &online)
                .await;
        }
        service
            .on_message(&client, "b".into(), Channel::Availability, &offline)
            .await;
        // Full: the offline one makes room.
        service
            .on_message(&client, "d".into(), Channel::Availability, &online)
            .await;
        assert_eq!(ids(&service), ["a", "c", "d"]);
        // Full and all online: the newcomer is ignored and counted.
        service
            .on_message(&client, "e".into(), Channel::Availability, &online)
            .await;
        assert_eq!(ids(&service), ["a", "c", "d"]);
        assert_eq!(service.refused.get("devices"), Some(&1));
    }

    #[tokio::test]
    async fn a_sink_that_fails_every_pick_is_left_alone_for_a_while() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut toml = String::new();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}.ogg")), b"x").expect("write");
            toml.push_str(&format!(
                "[[track]]\nfile = \"{i}.ogg\"\ntitle = \"T{i}\"\nmoods = [\"happy\"]\n"
            ));
        }
        std::fs::write(dir.path().join("catalogue.toml"), toml).expect("write");
        let store = Arc::new(Store::in_memory().expect("store"));
        let mut config = CompanionConfig::default();
        config.music.start_after_s = 0.0;
        let recommender = Arc::new(
            Recommender::new(
                store.clone(),
                None,
                Some(LocalCatalogue::open(dir.path()).expect("catalogue")),
                Mapping::default(),
                config.recommend_options(),
                Some(5),
            )
            .expect("recommender"),
        );
        let (sink, page) = WebSink::new(50);
        let (status, _) = watch::channel(Status::default());
        let mut service =
            Service::new(config, store, recommender, AnySink::Web(sink), status).expect("service");
        // Never connected: nothing is published without devices.
        let (client, _eventloop) =
            AsyncClient::new(rumqttc::MqttOptions::new("t", "127.0.0.1", 1), 8);
        service.schedule.on_mood(Some(Emotion::Happy), 0);
        service.on_tick(&client).await;
        let mut ids = Vec::new();
        for _ in 0..MAX_FAILURES_IN_A_ROW {
            let id = page
                .current()
                .item
                .map(|i| i.pick_id)
                .expect("a pick plays");
            ids.push(id);
            assert!(page.report(id, SinkEvent::Failed("cannot play".into())));
            service.on_tick(&client).await;
        }
        assert!(
            service.current.is_none(),
            "no new pick after three failures"
        );
        assert!(
            service.retry_at_ms > now_ms(),
            "a pause before the next try"
        );
        assert_eq!(ids.len(), 3);
        ids.dedup();
        assert_eq!(ids.len(), 3, "each failure moved on to another pick first");
    }
}
