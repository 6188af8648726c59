//! `xpressify-companion run`: the service. One task owns the MQTT client, the schedule,
//! the recommender and the sink, and reacts to four things — an event from the broker, a
//! command from the HTTP API, a one-second tick, and the stop signal — so every decision is
//! made in one place, in order. The broker itself is read on a thread of its own
//! ([`crate::mqtt_reader`]) and moods are committed on another ([`crate::mood_writer`]), so
//! whatever this task waits on, the companion goes on reading.
//!
//! Each room ([`crate::room`]) has its player and follows the newest mood of its own devices
//! (a device in no room is in the first); its `now_playing` is published, retained, to its
//! devices only, and a command from a device acts on that device's room.
//! A device becomes known only by a valid mood or an `online` availability message, and at
//! most `mqtt.max_devices` are kept ([`crate::devices`]), so made-up ids on the LAN cost
//! bounded memory and work. What plays is [`crate::playback`]'s state; this module does the
//! I/O around it. Junk payloads are counted and logged, never fatal; a broker that is down is
//! retried with back-off while playback goes on.

mod calibrate;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event, LastWill, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};
use xpressify_protocol::discovery::{self, DeviceInfo};
use xpressify_protocol::topics::{self, Channel, RoomChannel};
use xpressify_protocol::{Availability, Command, Emotion, MoodEvent, Topics};

use crate::calibration::keeper::CorrectionError;
use crate::clock::now_ms;
use crate::config::CompanionConfig;
use crate::devices::{Admission, Devices};
use crate::mood_writer::MoodWriter;
use crate::mqtt_reader::{BrokerEvent, MqttReader};
use crate::recommend::Recommender;
use crate::room::Room;
use crate::schedule::{Action, Player};
use crate::sink::{PlayItem, PlaybackSink, SinkEvent};
use crate::store::{MoodRecord, PickRecord, PlayOutcome, Store};
use crate::taste::Feedback;
use crate::telemetry;

pub use crate::status::{Budget, DeviceView, RoomView, Status};

/// A request from the HTTP API.
#[derive(Debug)]
pub enum Control {
    /// A listener's command, as on the MQTT `command` topic, for a room (`None`: the first).
    Command {
        /// What to do.
        command: Command,
        /// The room's name.
        room: Option<String>,
    },
    /// "That's not my mood" from the page or the HTTP API.
    Correct {
        /// The device.
        device: String,
        /// What the page showed (`None`: no face).
        detected: Option<Emotion>,
        /// What the listener says.
        actual: Option<Emotion>,
        /// Told once it is stored.
        reply: tokio::sync::oneshot::Sender<Result<(), CorrectionError>>,
    },
    /// "Reset calibration" from the page or the HTTP API.
    ResetCalibration {
        /// The device.
        device: String,
        /// Told once it is published.
        reply: tokio::sync::oneshot::Sender<Result<(), CorrectionError>>,
    },
}

/// The service's state.
pub struct Service {
    config: CompanionConfig,
    store: Arc<Store>,
    /// Moods go to the store through this, off the service's task (see [`crate::mood_writer`]).
    moods: MoodWriter,
    recommender: Arc<Recommender>,
    /// The rooms, each with its player; never empty.
    rooms: Vec<Room>,
    devices: Devices,
    status: watch::Sender<Status>,
    refused: BTreeMap<String, u64>,
    /// Messages the broker reader dropped (see [`crate::mqtt_reader::QUEUE_BYTES`]).
    dropped: u64,
    connected: bool,
    /// Corrections, and each device's calibration.
    calibrations: crate::calibration::keeper::Keeper,
}

impl Service {
    /// A service for `rooms` (at least one); `status` is where it reports for the HTTP API.
    /// Fails only if the thread that writes moods cannot be started, or without a room.
    pub fn new(
        config: CompanionConfig,
        store: Arc<Store>,
        recommender: Arc<Recommender>,
        rooms: Vec<Room>,
        status: watch::Sender<Status>,
    ) -> std::io::Result<Self> {
        if rooms.is_empty() {
            return Err(std::io::Error::other("a service needs a room"));
        }
        let moods = MoodWriter::start(store.clone())?;
        let devices = Devices::new(config.mqtt.max_devices as usize);
        let calibrations =
            crate::calibration::keeper::Keeper::new(store.clone(), config.calibration.clone());
        Ok(Service {
            calibrations,
            config,
            store,
            moods,
            recommender,
            rooms,
            devices,
            status,
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
                        for channel in [Channel::Mood, Channel::Availability, Channel::Command, Channel::Probabilities] {
                            let _ = client
                                .subscribe(topics::all_devices(&prefix, channel), QoS::AtLeastOnce)
                                .await;
                        }
                        let _ = client
                            .subscribe(topics::all_rooms(&prefix, RoomChannel::Command), QoS::AtLeastOnce)
                            .await;
                        if self.config.mqtt.discovery {
                            let status = discovery::status_topic(&self.config.mqtt.discovery_prefix);
                            let _ = client.subscribe(status, QoS::AtLeastOnce).await;
                            self.announce_rooms(&client).await;
                        }
                        let _ = client
                            .publish(&availability, QoS::AtLeastOnce, true, Availability::Online.encode())
                            .await;
                        for r in 0..self.rooms.len() {
                            self.publish_now_playing(&client, r).await;
                        }
                        self.publish_kept_calibrations(&client).await;
                        self.publish_status();
                    }
                    Some(BrokerEvent::Event(Event::Incoming(Packet::Publish(p)))) => {
                        self.dropped = broker_events.dropped();
                        if let Some((device, channel)) = topics::parse(&prefix, &p.topic) {
                            self.on_message(&client, device, channel, &p.payload).await;
                        } else if let Some((room, RoomChannel::Command)) = topics::parse_room(&prefix, &p.topic) {
                            self.on_room_command(&client, &room, &p.payload).await;
                        } else if self.config.mqtt.discovery
                            && p.topic == discovery::status_topic(&self.config.mqtt.discovery_prefix)
                            && Availability::decode(&p.payload).ok() == Some(Availability::Online)
                        {
                            info!("Home Assistant came online: announcing the rooms again");
                            self.announce_rooms(&client).await;
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
                Some(c) = control.recv() => self.on_control(&client, c).await,
                _ = tick.tick() => self.on_tick(&client).await,
            }
        }
        for r in 0..self.rooms.len() {
            if let Some(current) = self.rooms[r].playback.stop() {
                self.end_play(current.play_id, PlayOutcome::Stopped, now_ms());
            }
        }
        let moods = self.moods.close();
        info!(
            stored = moods.stored,
            commits = moods.commits,
            lost = moods.lost,
            "moods written"
        );
        for room in &mut self.rooms {
            let _ = room.sink.stop().await;
        }
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

    /// A request from the HTTP API.
    async fn on_control(&mut self, client: &AsyncClient, control: Control) {
        match control {
            Control::Command { command, room } => {
                let r = room
                    .and_then(|name| self.rooms.iter().position(|x| x.name == name))
                    .unwrap_or(0);
                self.on_command(client, r, command).await;
            }
            Control::Correct {
                device,
                detected,
                actual,
                reply,
            } => {
                let done = self
                    .on_correction(&device, Some(detected), actual)
                    .map(drop);
                if done.is_ok() {
                    self.publish_status();
                }
                let _ = reply.send(done);
            }
            Control::ResetCalibration { device, reply } => {
                let done = self.on_reset(client, &device).await;
                self.publish_status();
                let _ = reply.send(done.map_err(CorrectionError::from));
            }
        }
    }

    fn refuse(&mut self, channel: Channel, topic_device: &str, error: impl std::fmt::Display) {
        telemetry::refused(channel.as_str());
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
                    let before = self.devices.mood_of(&device);
                    self.devices.record_mood(&device, &mood, now);
                    let shown = mood.emotion.filter(|_| !mood.paused);
                    self.calibrations.on_mood(&device, shown, now);
                    // A device publishes its mood again when only the confidence moved: the
                    // history keeps changes. The companion's clock, not the device's: a Pi
                    // without a clock battery may be hours off, and the history lines moods
                    // up with picks.
                    if before != Some((mood.emotion, mood.paused)) {
                        telemetry::mood(&device, mood.emotion, mood.paused);
                        self.moods.record(MoodRecord {
                            device: device.clone(),
                            emotion: mood.emotion,
                            confidence: mood.confidence,
                            at_ms: now,
                        });
                    }
                    let r = self.room_of(&device);
                    let room = &mut self.rooms[r];
                    let followed = room.mood();
                    if mood.emotion.is_some() {
                        room.mood_device = Some(device.clone());
                    }
                    if mood.paused {
                        // The camera is off: what it saw last is not acted on.
                        if room.mood_device.as_deref() == Some(device.as_str()) {
                            room.schedule.forget_pending(now);
                        }
                    } else if room.follow && room.chosen.is_none() {
                        room.schedule.on_mood(mood.emotion, now);
                    }
                    info!(%device, room = %room.name, emotion = ?mood.emotion, confidence = mood.confidence, paused = mood.paused, "mood");
                    if room.mood() != followed {
                        self.publish_room_state(client, r).await;
                    }
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
                    if (online || self.devices.contains(&device))
                        && self.admit(client, &device, now).await
                    {
                        self.devices.set_online(&device, online);
                    }
                }
                Err(e) => self.refuse(channel, &device, e),
            },
            Channel::Command => match Command::decode(payload) {
                Ok(Command::CorrectMood { mood }) => {
                    if !self.devices.contains(&device) {
                        // Made-up ids on the LAN fill nothing.
                        self.refuse(channel, &device, "correct_mood for an unknown device");
                    } else if let Err(e) = self.on_correction(&device, None, Some(mood)) {
                        warn!(%device, error = %e, "correction not kept");
                    }
                }
                Ok(Command::ResetCalibration) => {
                    if !self.devices.contains(&device) {
                        self.refuse(channel, &device, "reset_calibration for an unknown device");
                    } else if let Err(e) = self.on_reset(client, &device).await {
                        warn!(%device, error = %e, "cannot reset the calibration");
                    }
                }
                Ok(command) => {
                    let r = self.room_of(&device);
                    info!(%device, room = %self.rooms[r].name, command = command.name(), "command");
                    self.on_command(client, r, command).await;
                }
                Err(e) => self.refuse(channel, &device, e),
            },
            Channel::Probabilities => {
                // At the devices' rate: the page has nothing new to show.
                self.on_reading(&device, payload);
                return;
            }
            Channel::NowPlaying
            | Channel::Event
            | Channel::Camera
            | Channel::CameraSet
            | Channel::Diagnostics
            | Channel::Calibration => {}
        }
        self.publish_status();
    }

    /// Makes `device` known after a valid message from it ([`Devices::admit`]); `false`
    /// when it cannot be. A new device gets the current `now_playing` for its display (it
    /// alone: the others have it); a forgotten one has its retained `now_playing` cleared; an
    /// ignored one is counted (`refused.devices`).
    async fn admit(&mut self, client: &AsyncClient, device: &str, now: u64) -> bool {
        match self.devices.admit(device, now) {
            Admission::Known => true,
            Admission::New { forgot } => {
                if let Some(old) = forgot {
                    info!(device = %old, "forgot an offline device to make room (mqtt.max_devices)");
                    self.calibrations.forget(&old);
                    if let Ok(topics) = Topics::new(&self.config.mqtt.prefix, &old) {
                        // An empty retained message deletes the retained one.
                        let _ = client
                            .publish(topics.now_playing(), QoS::AtLeastOnce, true, Vec::new())
                            .await;
                    }
                }
                if self.rooms.len() > 1 && !self.rooms.iter().any(|r| r.devices.contains(device)) {
                    info!(%device, room = %self.rooms[0].name, "a device in no room joins the first (rooms.devices)");
                }
                self.publish_now_playing_to(client, device).await;
                if let Ok(Some(kept)) = self.store.calibration(device)
                    && let Ok(c) = xpressify_protocol::Calibration::decode(&kept.payload)
                {
                    self.devices.set_calibration(device, &c);
                }
                true
            }
            Admission::Ignored { ignored } => {
                *self.refused.entry("devices".into()).or_default() += 1;
                telemetry::refused("devices");
                if ignored.is_power_of_two() {
                    warn!(
                        %device,
                        ignored,
                        max_devices = self.config.mqtt.max_devices,
                        "a new device was ignored: every known one is online (mqtt.max_devices)"
                    );
                }
                false
            }
        }
    }

    /// The room `device` is in: the one that lists it, else the first.
    fn room_of(&self, device: &str) -> usize {
        self.rooms
            .iter()
            .position(|r| r.devices.contains(device))
            .unwrap_or(0)
    }

    async fn on_tick(&mut self, client: &AsyncClient) {
        for r in 0..self.rooms.len() {
            self.tick_room(client, r).await;
        }
        if let Err(e) = self.calibrations.confirm_due(now_ms()) {
            warn!(error = %e, "cannot keep a confirmation");
        }
        self.publish_due_calibrations(client).await;
        self.publish_status();
    }

    async fn tick_room(&mut self, client: &AsyncClient, r: usize) {
        if self.rooms[r].chosen.is_some_and(|c| now_ms() >= c.until_ms) {
            self.follow_cameras_again(r, now_ms());
            self.publish_room_state(client, r).await;
        }
        match self.rooms[r].sink.poll().await {
            Ok(Some(SinkEvent::Ended)) => {
                if let Some(current) = self.rooms[r].playback.played_out() {
                    self.end_play(current.play_id, PlayOutcome::PlayedOut, now_ms());
                    self.learn(&current.pick, Feedback::PlayedOut);
                }
                if let Some(action) = self.rooms[r].schedule.on_ended() {
                    self.act(client, r, action).await;
                } else {
                    self.publish_now_playing(client, r).await;
                }
            }
            Ok(Some(SinkEvent::Failed(why))) => {
                warn!(room = %self.rooms[r].name, error = %why, "the pick could not play");
                let (ended, go_on) = self.rooms[r].playback.failed(why, now_ms());
                if let Some(current) = ended {
                    self.end_play(current.play_id, PlayOutcome::Failed, now_ms());
                }
                let next = self.rooms[r].schedule.on_ended();
                if go_on && let Some(action) = next {
                    self.act(client, r, action).await;
                }
            }
            Ok(None) => {}
            Err(e) => {
                warn!(room = %self.rooms[r].name, error = %e, "player");
                self.rooms[r].playback.report(e);
            }
        }
        let now = now_ms();
        let room = &mut self.rooms[r];
        if room.playback.may_start(now)
            && let Some(action) = room.schedule.on_tick(room.playback.player(), now)
        {
            self.act(client, r, action).await;
        }
    }

    /// Starts a pick for `action`'s mood (cutting the current one for a switch).
    async fn act(&mut self, client: &AsyncClient, r: usize, action: Action) {
        let (mood, outcome) = match action {
            Action::Start(m) => (m, PlayOutcome::PlayedOut),
            Action::Switch(m) => (m, PlayOutcome::Replaced),
        };
        self.start(client, r, mood, outcome).await;
    }

    /// Notes how a play ended; a failed write is logged (the history then lacks its end).
    fn end_play(&self, play_id: i64, outcome: PlayOutcome, now: u64) {
        if let Err(e) = self.store.end_play(play_id, outcome, now) {
            warn!(error = %e, play_id, outcome = outcome.as_str(), "cannot record how a play ended");
        }
    }

    async fn start(
        &mut self,
        client: &AsyncClient,
        r: usize,
        mood: Emotion,
        previous_outcome: PlayOutcome,
    ) {
        let now = now_ms();
        let device = self.rooms[r]
            .mood_device
            .clone()
            .unwrap_or_else(|| "companion".into());
        let room = &self.rooms[r];
        let picking = std::time::Instant::now();
        let pick = match self
            .recommender
            .pick(&room.name, &device, mood, now, room.youtube)
            .await
        {
            Ok(p) => {
                let source = match p.track {
                    xpressify_protocol::Track::Youtube { .. } => "youtube",
                    xpressify_protocol::Track::Local { .. } => "local",
                };
                telemetry::pick(&room.name, source, mood, picking.elapsed());
                p
            }
            Err(e) => {
                warn!(room = %self.rooms[r].name, error = %e, "no pick");
                self.rooms[r].playback.could_not_start(e, now);
                return;
            }
        };
        let item = PlayItem {
            pick_id: pick.id,
            track: pick.track.clone(),
            title: pick.title.clone(),
            artist: pick.artist.clone(),
        };
        let room = &mut self.rooms[r];
        let starting = std::time::Instant::now();
        let played = room.sink.play(&item).await;
        telemetry::player_start(starting.elapsed());
        if let Err(e) = played {
            warn!(room = %room.name, error = %e, "cannot play the pick");
            room.playback.could_not_start(e, now);
            return;
        }
        let replaced = room.playback.stop();
        let sink = room.sink.name();
        if let Some(old) = replaced {
            self.end_play(old.play_id, previous_outcome, now);
        }
        let play_id = self
            .store
            .start_play(pick.id, sink, now)
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot record the play");
                0
            });
        let room = &mut self.rooms[r];
        info!(%mood, room = %room.name, title = %pick.title, query = %pick.query, sink, "playing");
        room.schedule.on_started(mood);
        room.playback.started(pick, play_id, now);
        self.publish_now_playing(client, r).await;
    }

    fn learn(&self, pick: &PickRecord, feedback: Feedback) {
        if let Err(e) = self.recommender.learn(pick, feedback) {
            warn!(error = %e, "cannot record feedback");
        }
    }

    async fn on_command(&mut self, client: &AsyncClient, r: usize, command: Command) {
        let result = match command {
            Command::Play => {
                let room = &mut self.rooms[r];
                if room.playback.resume(now_ms()) {
                    room.sink.resume().await
                } else {
                    if room.playback.current().is_none() {
                        let mood = room.schedule.mood().unwrap_or(Emotion::Neutral);
                        self.start(client, r, mood, PlayOutcome::PlayedOut).await;
                    }
                    Ok(())
                }
            }
            Command::Pause => {
                let room = &mut self.rooms[r];
                if room.playback.pause(now_ms()) {
                    room.sink.pause().await
                } else {
                    Ok(())
                }
            }
            Command::Skip | Command::Dislike => {
                let feedback = if command == Command::Skip {
                    Feedback::Skip
                } else {
                    Feedback::Dislike
                };
                let room = &self.rooms[r];
                let mood = match room.playback.current() {
                    Some(c) => {
                        self.learn(&c.pick, feedback);
                        room.schedule.mood().unwrap_or(c.pick.mood)
                    }
                    None => room.schedule.mood().unwrap_or(Emotion::Neutral),
                };
                let outcome = if command == Command::Skip {
                    PlayOutcome::Skipped
                } else {
                    PlayOutcome::Disliked
                };
                self.start(client, r, mood, outcome).await;
                Ok(())
            }
            Command::Like => {
                if let Some(c) = self.rooms[r].playback.current() {
                    self.learn(&c.pick, Feedback::Like);
                }
                Ok(())
            }
            Command::SetVolume { volume } => {
                let room = &mut self.rooms[r];
                let set = room.sink.set_volume(volume).await;
                if set.is_ok() {
                    room.volume = Some(volume);
                }
                set
            }
            Command::Follow { on } => {
                self.set_follow(r, on);
                Ok(())
            }
            Command::SetMood { mood, minutes } => {
                match mood {
                    Some(m) => self.choose_mood(client, r, m, minutes).await,
                    None => self.follow_cameras_again(r, now_ms()),
                }
                Ok(())
            }
            Command::CorrectMood { .. } | Command::ResetCalibration => {
                warn!(room = %self.rooms[r].name, command = command.name(), "a camera's command sent to a room: send it on the device's topic");
                return;
            }
        };
        if let Err(e) = result {
            warn!(room = %self.rooms[r].name, error = %e, command = command.name(), "player");
            self.rooms[r].playback.report(e);
        }
        self.publish_now_playing(client, r).await;
        self.publish_status();
    }

    /// Publishes room `r`'s `now_playing` (retained) to each of its devices that is known.
    async fn publish_now_playing(&self, client: &AsyncClient, r: usize) {
        self.publish_room_state(client, r).await;
        let Some(payload) = self.rooms[r].playback.now_playing().map(|n| n.encode()) else {
            return;
        };
        for device in self.devices.ids().filter(|d| self.room_of(d) == r) {
            publish_retained_now_playing(client, &self.config.mqtt.prefix, device, &payload).await;
        }
    }

    /// Publishes room `r`'s state (retained) on `<prefix>/companion/<id>/state`, for Home
    /// Assistant's room device.
    async fn publish_room_state(&self, client: &AsyncClient, r: usize) {
        let room = &self.rooms[r];
        let topic = topics::room(&self.config.mqtt.prefix, &room.id, RoomChannel::State);
        let _ = client
            .publish(topic, QoS::AtLeastOnce, true, room.state(now_ms()).encode())
            .await;
    }

    /// Announces every room to Home Assistant (retained discovery messages).
    async fn announce_rooms(&self, client: &AsyncClient) {
        let mut entities = 0;
        for room in &self.rooms {
            let info = DeviceInfo {
                name: discovery::music::default_name(&room.name),
                model: "Xpressify companion".into(),
                sw_version: env!("CARGO_PKG_VERSION").to_string(),
                configuration_url: self.config.page_url(),
            };
            let messages = discovery::music::room_messages(
                &self.config.mqtt.discovery_prefix,
                &self.config.mqtt.prefix,
                &room.name,
                &info,
            );
            entities += messages.len();
            for m in messages {
                let _ = client
                    .publish(m.topic.clone(), QoS::AtLeastOnce, true, m.encode())
                    .await;
            }
        }
        info!(
            rooms = self.rooms.len(),
            entities, "published Home Assistant discovery"
        );
    }

    /// A command on a room's own topic (Home Assistant's room device, scripts).
    async fn on_room_command(&mut self, client: &AsyncClient, room: &str, payload: &[u8]) {
        let Some(r) = self.rooms.iter().position(|x| x.id == room) else {
            *self.refused.entry("rooms".into()).or_default() += 1;
            telemetry::refused("rooms");
            warn!(room, "a command for a room that is not configured");
            self.publish_status();
            return;
        };
        match Command::decode(payload) {
            Ok(command) => {
                info!(room = %self.rooms[r].name, command = command.name(), "room command");
                self.on_command(client, r, command).await;
            }
            Err(e) => {
                *self.refused.entry("command".into()).or_default() += 1;
                telemetry::refused("command");
                warn!(room, error = %e, "refused payload");
                self.publish_status();
            }
        }
    }

    /// "Play for this mood": room `r` follows `mood` for `minutes` (else
    /// `music.choose_minutes`) whatever its cameras read. The choice is heard at once: unless
    /// a listener paused, a pick for it starts now.
    async fn choose_mood(
        &mut self,
        client: &AsyncClient,
        r: usize,
        mood: Emotion,
        minutes: Option<u16>,
    ) {
        let now = now_ms();
        let minutes = minutes.unwrap_or(self.config.music.choose_minutes);
        let room = &mut self.rooms[r];
        room.chosen = Some(xpressify_protocol::ChosenMood {
            mood,
            until_ms: now + u64::from(minutes) * 60_000,
        });
        room.schedule.on_mood(Some(mood), now);
        info!(room = %room.name, %mood, minutes, "a listener chose the mood");
        let outcome = match room.playback.player() {
            Player::Paused => return,
            Player::Playing if room.schedule.playing_for() == Some(mood) => return,
            Player::Playing => PlayOutcome::Replaced,
            Player::Idle => PlayOutcome::PlayedOut,
        };
        self.start(client, r, mood, outcome).await;
    }

    /// Ends a chosen mood of room `r` (asked for, or its time is up): the room follows the
    /// newest mood of its camera again, by the usual schedule.
    fn follow_cameras_again(&mut self, r: usize, now: u64) {
        let camera = self.rooms[r]
            .mood_device
            .as_deref()
            .and_then(|d| self.devices.mood_of(d))
            .and_then(|(emotion, paused)| emotion.filter(|_| !paused));
        let room = &mut self.rooms[r];
        if room.chosen.take().is_none() {
            return;
        }
        if room.follow {
            room.schedule.on_mood(camera, now);
        }
        info!(room = %room.name, camera = ?camera, "the room follows its cameras again");
    }

    /// Turns "music follows my mood" for room `r`; off drops a change heard and not yet acted
    /// on. Kept in the store.
    fn set_follow(&mut self, r: usize, on: bool) {
        let room = &mut self.rooms[r];
        if room.follow == on {
            return;
        }
        room.follow = on;
        if !on {
            room.schedule.forget_pending(now_ms());
        }
        info!(room = %room.name, follow = on, "music follows the mood");
        if let Err(e) = self
            .store
            .set_setting(&room.follow_key(), if on { "on" } else { "off" })
        {
            warn!(error = %e, "cannot keep the room's follow switch; it resets on restart");
        }
    }

    /// Publishes `device`'s room's `now_playing` (retained) to `device` alone.
    async fn publish_now_playing_to(&self, client: &AsyncClient, device: &str) {
        let room = &self.rooms[self.room_of(device)];
        if let Some(payload) = room.playback.now_playing().map(|n| n.encode()) {
            publish_retained_now_playing(client, &self.config.mqtt.prefix, device, &payload).await;
        }
    }

    fn publish_status(&self) {
        let rooms: Vec<RoomView> = self
            .rooms
            .iter()
            .enumerate()
            .map(|(r, room)| {
                let mut members: BTreeSet<String> = room.devices.clone();
                members.extend(
                    self.devices
                        .ids()
                        .filter(|d| self.room_of(d) == r)
                        .map(str::to_string),
                );
                room.view(members.into_iter().collect())
            })
            .collect();
        let first = &rooms[0];
        let status = Status {
            mood: first.mood,
            mood_device: first.mood_device.clone(),
            now_playing: first.now_playing.clone(),
            pick_id: first.pick_id,
            devices: self.devices.views(),
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
            sink: first.sink.clone(),
            problem: first.problem.clone(),
            refused: self.refused.clone(),
            dropped: self.dropped,
            rooms,
        };
        telemetry::status(
            status.devices.iter().filter(|d| d.online).count(),
            status.broker_connected,
            status.youtube_budget.as_ref().map(|b| (b.spent, b.budget)),
        );
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
    use crate::schedule::Schedule;
    use crate::sink::{AnySink, WebSink};

    fn one_room(config: &CompanionConfig, sink: AnySink) -> Vec<Room> {
        vec![Room::new(
            "home".into(),
            BTreeSet::new(),
            sink,
            Schedule::new(config.timing()),
        )]
    }
    use crate::source::LocalCatalogue;

    /// A service with one room on the web player and no music source: enough to follow how
    /// it routes moods and commands.
    fn service_without_sources(config: CompanionConfig, store: Arc<Store>) -> Service {
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
        let rooms = one_room(&config, AnySink::Web(sink));
        Service::new(config, store, recommender, rooms, status).expect("service")
    }

    /// Only valid messages make a device known, at most `mqtt.max_devices` are kept, an
    /// offline one makes room, and a newcomer is ignored while all are online.
    #[tokio::test]
    async fn devices_are_admitted_by_valid_messages_within_the_cap() {
        let store = Arc::new(Store::in_memory().expect("store"));
        let mut config = CompanionConfig::default();
        config.mqtt.max_devices = 3;
        let mut service = service_without_sources(config, store);
        // Room for every publish without a broker reading them.
        let (client, _eventloop) =
            AsyncClient::new(rumqttc::MqttOptions::new("t", "127.0.0.1", 1), 1000);
        let online = Availability::Online.encode();
        let offline = Availability::Offline.encode();
        let ids = |s: &Service| s.devices.ids().map(str::to_string).collect::<Vec<_>>();

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

    /// "Play for this mood": the chosen mood leads, the camera's moods change nothing while
    /// it holds, and when its time is up the room takes the camera's newest mood.
    #[tokio::test]
    async fn a_chosen_mood_holds_against_the_camera_and_ends_on_time() {
        let store = Arc::new(Store::in_memory().expect("store"));
        let config = CompanionConfig::default();
        let mut service = service_without_sources(config, store);
        let (client, _eventloop) =
            AsyncClient::new(rumqttc::MqttOptions::new("t", "127.0.0.1", 1), 1000);
        let mood = |emotion: Emotion| {
            let mut p = [0.0f32; 7];
            p[emotion.index()] = 1.0;
            MoodEvent {
                schema: xpressify_protocol::SCHEMA_VERSION,
                device_id: "cam".into(),
                emotion: Some(emotion),
                confidence: 1.0,
                probabilities: xpressify_protocol::Probabilities::new(p).expect("valid"),
                faces: 1,
                timestamp_ms: 1,
                seq: 1,
                model: xpressify_protocol::ModelInfo {
                    name: "m".into(),
                    version: "1".into(),
                },
                paused: false,
            }
            .encode()
        };
        service
            .on_message(&client, "cam".into(), Channel::Mood, &mood(Emotion::Happy))
            .await;
        assert_eq!(service.rooms[0].mood(), Some(Emotion::Happy));

        let set = Command::SetMood {
            mood: Some(Emotion::Sad),
            minutes: Some(5),
        };
        service.on_command(&client, 0, set).await;
        let chosen = service.rooms[0].chosen.expect("chosen");
        assert_eq!(chosen.mood, Emotion::Sad);
        let minutes = (chosen.until_ms - now_ms()) as f64 / 60_000.0;
        assert!((4.9..=5.0).contains(&minutes), "{minutes}");
        assert_eq!(service.rooms[0].mood(), Some(Emotion::Sad));

        // The camera reads angry: the choice holds.
        service
            .on_message(&client, "cam".into(), Channel::Mood, &mood(Emotion::Angry))
            .await;
        assert_eq!(service.rooms[0].mood(), Some(Emotion::Sad));

        // Its time is up: the room follows the camera's newest mood again.
        if let Some(c) = service.rooms[0].chosen.as_mut() {
            c.until_ms = 0;
        }
        service.tick_room(&client, 0).await;
        assert_eq!(service.rooms[0].chosen, None);
        assert_eq!(service.rooms[0].mood(), Some(Emotion::Angry));
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
        let rooms = one_room(&config, AnySink::Web(sink));
        let mut service = Service::new(config, store, recommender, rooms, status).expect("service");
        // Never connected: nothing is published without devices.
        let (client, _eventloop) =
            AsyncClient::new(rumqttc::MqttOptions::new("t", "127.0.0.1", 1), 8);
        service.rooms[0].schedule.on_mood(Some(Emotion::Happy), 0);
        service.on_tick(&client).await;
        let mut ids = Vec::new();
        for _ in 0..crate::playback::MAX_FAILURES_IN_A_ROW {
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
            service.rooms[0].playback.current().is_none(),
            "no new pick after three failures"
        );
        assert!(
            !service.rooms[0].playback.may_start(now_ms()),
            "a pause before the next try"
        );
        ids.dedup();
        assert_eq!(
            ids.len(),
            crate::playback::MAX_FAILURES_IN_A_ROW as usize,
            "each failure moved on to another pick first"
        );
    }
}
