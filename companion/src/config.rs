//! The companion's configuration: `--config FILE` (TOML), overridden by `XPRESSIFY__…`
//! variables, checked at start so a wrong value is refused with its key's name.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use xpressify_protocol::Secret;

use serde::{Deserialize, Serialize};
use xpressify_protocol::BrokerUrl;
use xpressify_protocol::Emotion;
use xpressify_protocol::client;
use xpressify_protocol::config::{ConfigError, MqttKeys};
use xpressify_protocol::topics::DEFAULT_PREFIX;

use crate::http::stream::StreamConfig;
use crate::mapping::{EmotionMusic, Mapping, Policy};
use crate::recommend::RecommendOptions;
use crate::schedule::Timing;
use crate::sink::{DlnaConfig, HomeAssistantConfig, MpdConfig, MpvConfig, YoutubeMode};
use crate::source::YoutubeConfig;

/// Everything the companion reads at start. Sections mirror `config/companion.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompanionConfig {
    /// How to reach the broker that the devices publish to.
    pub mqtt: MqttConfig,
    /// Where history, feedback, the search cache and edits are kept.
    pub store: StoreConfig,
    /// Emotion → music, and when the music changes.
    pub music: MusicConfig,
    /// YouTube Data API search.
    pub youtube: YoutubeConfig,
    /// The local catalogue.
    pub local: LocalConfig,
    /// The listener's own music, scanned and sorted by mood.
    pub library: LibraryConfig,
    /// Which sink plays, and its volume.
    pub player: PlayerConfig,
    /// The `mpv` sink.
    pub mpv: MpvConfig,
    /// The Home Assistant sink.
    pub home_assistant: HomeAssistantConfig,
    /// The MPD sink.
    pub mpd: MpdConfig,
    /// The DLNA sink.
    pub dlna: DlnaConfig,
    /// The HTTP API (and the web page).
    pub http: HttpConfig,
    /// `/stream`: picks as audio for players that open URLs (YouTube through yt-dlp).
    pub stream: StreamConfig,
    /// Corrections tune what each camera recognises.
    pub calibration: CalibrationConfig,
    /// The rooms, each with its devices and player; none: one room, `home`, with every device
    /// and `[player]`.
    pub rooms: Vec<RoomConfig>,
}

/// `[[rooms]]`: a room's devices and player.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomConfig {
    /// Its name, as the page, the history and the log show it.
    pub name: String,
    /// The devices in it (their `device_id`s); a device in no room joins the first.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Its player.
    #[serde(default)]
    pub player: RoomPlayer,
}

/// `[rooms.player]`: the room's sink and the one setting that names its player; everything
/// else comes from the sink's own section (`[mpv]`, `[mpd]`, `[dlna]`, `[home_assistant]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomPlayer {
    /// The room's sink; unset: `player.sink`.
    pub sink: Option<SinkKind>,
    /// Its start volume in percent; unset: `player.volume`.
    pub volume: Option<u8>,
    /// For `mpv`: mpv's `--audio-device` (e.g. `alsa/plughw:1`).
    pub audio_device: Option<String>,
    /// For `mpd`: MPD's address, in place of `mpd.address`.
    pub address: Option<String>,
    /// For `dlna`: the renderer, in place of `dlna.renderer`.
    pub renderer: Option<String>,
    /// For `home_assistant`: the media player, in place of `home_assistant.entity_id`.
    pub entity_id: Option<String>,
}

/// A room as the service runs it: its player's settings resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomPlan {
    /// Its name.
    pub name: String,
    /// Its devices.
    pub devices: Vec<String>,
    /// Its sink.
    pub sink: SinkKind,
    /// Its start volume.
    pub volume: u8,
    /// `[mpv]` with the room's audio device.
    pub mpv: MpvConfig,
    /// `[mpd]` with the room's address.
    pub mpd: MpdConfig,
    /// `[dlna]` with the room's renderer.
    pub dlna: DlnaConfig,
    /// `[home_assistant]` with the room's media player.
    pub home_assistant: HomeAssistantConfig,
}

impl RoomPlan {
    /// Whether the room's player opens the companion's `/stream` URLs for YouTube picks, and
    /// so gets them only through yt-dlp on this machine.
    pub fn streams_youtube(&self) -> bool {
        match self.sink {
            SinkKind::Mpd | SinkKind::Dlna => true,
            SinkKind::HomeAssistant => self.home_assistant.youtube == YoutubeMode::Stream,
            SinkKind::Web | SinkKind::Mpv => false,
        }
    }
}

/// The room of a config without `[[rooms]]`.
pub const DEFAULT_ROOM: &str = "home";

/// `[store]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The SQLite file; its folder is created if missing.
    pub path: String,
    /// Days of history kept (moods, picks, plays, feedback, searches); 0 keeps it all.
    pub keep_days: u32,
    /// Moods, and picks, kept at most; the oldest go first.
    pub max_rows: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: "xpressify-companion.sqlite".into(),
            keep_days: 365,
            max_rows: 1_000_000,
        }
    }
}

impl StoreConfig {
    /// What the store keeps.
    pub fn retention(&self) -> crate::retention::Retention {
        crate::retention::Retention {
            keep_days: self.keep_days,
            max_rows: self.max_rows,
        }
    }
}

/// `[calibration]`: the per-device calibration fitted from corrections (docs/calibration.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalibrationConfig {
    /// Fit and publish calibrations; off, corrections are only kept for the history.
    pub enabled: bool,
    /// A correction's weight halves every this many days (a room's light and a listener's
    /// face change with the seasons); 0 weighs them all alike.
    pub half_life_days: f64,
    /// Seconds without a new correction before the device's calibration is fitted and
    /// published, so a burst of corrections gives one message.
    pub quiet_s: f64,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        CalibrationConfig {
            enabled: true,
            half_life_days: 90.0,
            quiet_s: 3.0,
        }
    }
}

/// `[music]`: the mapping table and the schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MusicConfig {
    /// `match` the mood or `lift` it.
    pub policy: Policy,
    /// Seconds a mood must hold before music starts from silence.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub start_after_s: f64,
    /// Seconds a changed mood must hold before the playing track is cut.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub switch_after_s: f64,
    /// Minutes a mood chosen by a listener ("play for this mood") steers a room when the
    /// request names no time.
    pub choose_minutes: u16,
    /// How many recent picks are never repeated.
    pub avoid_recent: u32,
    /// Search the local catalogue before YouTube.
    pub prefer_local: bool,
    /// Choose at random among this many best fresh results of a search.
    pub choose_from_top: u32,
    /// Per emotion: `match`, `lift`, `genres`, `artists`, `languages`, `lift_to`.
    pub emotions: BTreeMap<Emotion, EmotionMusic>,
}

impl Default for MusicConfig {
    fn default() -> Self {
        let mapping = Mapping::default();
        MusicConfig {
            policy: mapping.policy,
            start_after_s: 5.0,
            switch_after_s: 60.0,
            choose_minutes: 30,
            avoid_recent: 20,
            prefer_local: false,
            choose_from_top: 5,
            emotions: mapping.emotions,
        }
    }
}

/// `[local]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// A folder with audio files and `catalogue.toml`; empty: no local catalogue.
    pub folder: String,
}

/// `[library]`: a folder of ordinary audio files, sorted by mood by the scan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibraryConfig {
    /// The folder; empty: none. A `catalogue.toml` in it places tracks by hand.
    pub folder: String,
    /// Seconds of each track that are decoded and measured.
    pub seconds: f32,
    /// Minutes between rescans for new, changed and removed files; 0: only at start.
    pub rescan_minutes: u32,
    /// Files analysed at once by `run` (the scan shares the CPU with the rest of the box);
    /// 0: one per core.
    pub threads: usize,
}

impl Default for LibraryConfig {
    fn default() -> Self {
        LibraryConfig {
            folder: String::new(),
            seconds: 30.0,
            rescan_minutes: 60,
            threads: 1,
        }
    }
}

impl LibraryConfig {
    /// The scan's options (`threads` 0: every core).
    pub fn scan_options(&self) -> crate::library::ScanOptions {
        let mut options = crate::library::ScanOptions {
            seconds: self.seconds,
            ..Default::default()
        };
        if self.threads > 0 {
            options.threads = self.threads;
        }
        options
    }
}

/// Which sink plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// The web page's embedded player.
    #[default]
    Web,
    /// A local speaker through mpv.
    Mpv,
    /// A Home Assistant media player.
    HomeAssistant,
    /// A Music Player Daemon (the Pi music-box distributions' player).
    Mpd,
    /// A DLNA / UPnP renderer: a TV, AV receiver or networked speaker.
    Dlna,
}

/// `[player]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlayerConfig {
    /// `web`, `mpv` or `home_assistant`.
    pub sink: SinkKind,
    /// Start volume in percent.
    pub volume: u8,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        PlayerConfig {
            sink: SinkKind::Web,
            volume: 60,
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port of the API and web page; `0.0.0.0:8080` to reach it from the LAN.
    pub listen: String,
    /// How players reach this companion (e.g. `http://192.168.1.20:8080`), for the
    /// `/stream` URLs handed to MPD and DLNA renderers; empty: `http://127.0.0.1:<port of
    /// http.listen>`, which only players on this machine can open.
    pub public_url: String,
    /// The token every control and settings change must carry (`Authorization: Bearer …`);
    /// empty: one is generated at first start, kept in the store and printed once.
    pub token: Secret,
    /// A file holding the token instead (or a systemd credential's name).
    pub token_file: String,
    /// When set, reading (status, history, events, `/media`) needs this token or the control
    /// token too (`Authorization: Bearer …` or `?access_token=…`); empty: reading is open to
    /// the LAN, as a music box's page usually is.
    pub read_token: Secret,
    /// A file holding the read token instead (or a systemd credential's name).
    pub read_token_file: String,
    /// Host names (besides IP addresses, `localhost` and this machine's name) that the page
    /// may be opened by, e.g. `["music.home.arpa"]`; `["*"]` for any (behind a proxy that
    /// checks them). Other names get `421`: this stops DNS rebinding.
    pub allowed_hosts: Vec<String>,
    /// Open connections at most; one more is answered `503` and closed.
    pub max_connections: u32,
    /// Open connections from one IP address at most.
    pub max_connections_per_client: u32,
    /// Open `/api/events` streams (pages) at most.
    pub max_event_streams: u32,
    /// Seconds a request head may take to arrive, and an idle connection may stay open.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub header_timeout_s: f64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            token: Secret::default(),
            token_file: String::new(),
            read_token: Secret::default(),
            read_token_file: String::new(),
            allowed_hosts: Vec::new(),
            max_connections: 256,
            max_connections_per_client: 32,
            max_event_streams: 64,
            header_timeout_s: 10.0,
        }
    }
}

impl HttpConfig {
    /// The server's connection limits (checked by [`CompanionConfig::validate`]).
    pub fn limits(&self) -> crate::http::serve::Limits {
        crate::http::serve::Limits {
            max_connections: self.max_connections as usize,
            max_per_client: self.max_connections_per_client as usize,
            header_timeout: Duration::from_secs_f64(self.header_timeout_s.clamp(0.1, 3600.0)),
        }
    }
}

/// `[mqtt]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://HOST[:PORT]`, or `mqtts://HOST[:PORT]` for TLS.
    pub url: String,
    /// First topic level(s) the devices publish under.
    pub prefix: String,
    /// MQTT client id; must differ between companions on one broker.
    pub client_id: String,
    /// Broker user name; empty for none.
    pub username: String,
    /// Broker password; empty for none. Never logged.
    pub password: Secret,
    /// A file holding the password instead (or a systemd credential's name).
    pub password_file: String,
    /// Seconds between keep-alive pings.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_u16")]
    pub keep_alive_s: u16,
    /// PEM CA certificate(s) to trust for `mqtts://`; empty uses the system's roots.
    pub ca_file: String,
    /// PEM client certificate, for brokers that authenticate clients by certificate.
    pub client_cert_file: String,
    /// The client certificate's PEM private key.
    pub client_key_file: String,
    /// Devices remembered at most; a new one past this replaces the one heard least recently
    /// among those offline, and is ignored while every one is online.
    pub max_devices: u32,
    /// Announce each room to Home Assistant (MQTT discovery) as a device with its player's
    /// controls.
    pub discovery: bool,
    /// Home Assistant's discovery prefix.
    pub discovery_prefix: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            prefix: DEFAULT_PREFIX.into(),
            client_id: "xpressify-companion".into(),
            username: String::new(),
            password: Secret::default(),
            password_file: String::new(),
            keep_alive_s: 30,
            ca_file: String::new(),
            client_cert_file: String::new(),
            client_key_file: String::new(),
            max_devices: 64,
            discovery: true,
            discovery_prefix: xpressify_protocol::discovery::DEFAULT_DISCOVERY_PREFIX.into(),
        }
    }
}

impl CompanionConfig {
    /// Reads `path` (if given) and the process environment, then validates.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut config: CompanionConfig = xpressify_protocol::cli::read_config(path)?;
        config.read_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values serde cannot: formats, ranges and combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.mqtt_options()?;
        let id = &self.mqtt.client_id;
        if id.is_empty() || id.len() > 64 {
            return Err(ConfigError::invalid(
                "mqtt.client_id",
                "must be 1 to 64 characters",
            ));
        }
        if self.store.path.trim().is_empty() {
            return Err(ConfigError::invalid("store.path", "must name a file"));
        }
        if self.store.keep_days > 36_500 {
            return Err(ConfigError::invalid(
                "store.keep_days",
                "at most 36500 (0 keeps everything)",
            ));
        }
        if self.store.max_rows < 1_000 {
            return Err(ConfigError::invalid("store.max_rows", "at least 1000"));
        }
        self.mapping()?;
        self.validate_library()?;
        let c = &self.calibration;
        if !(c.half_life_days.is_finite() && (0.0..=3650.0).contains(&c.half_life_days)) {
            return Err(ConfigError::invalid(
                "calibration.half_life_days",
                format!("{}: use 0 to 3650 days", c.half_life_days),
            ));
        }
        if !(c.quiet_s.is_finite() && (0.0..=600.0).contains(&c.quiet_s)) {
            return Err(ConfigError::invalid(
                "calibration.quiet_s",
                format!("{}: use 0 to 600 seconds", c.quiet_s),
            ));
        }
        let m = &self.music;
        for (key, v, max) in [
            ("music.start_after_s", m.start_after_s, 3600.0),
            ("music.switch_after_s", m.switch_after_s, 3600.0),
        ] {
            if !(0.0..=max).contains(&v) {
                return Err(ConfigError::invalid(key, format!("must be 0 to {max}")));
            }
        }
        if !(1..=xpressify_protocol::command::MAX_CHOSEN_MINUTES).contains(&m.choose_minutes) {
            return Err(ConfigError::invalid(
                "music.choose_minutes",
                format!(
                    "{}: use 1 to {} minutes",
                    m.choose_minutes,
                    xpressify_protocol::command::MAX_CHOSEN_MINUTES
                ),
            ));
        }
        if m.avoid_recent > 1000 {
            return Err(ConfigError::invalid("music.avoid_recent", "at most 1000"));
        }
        if !(1..=50).contains(&m.choose_from_top) {
            return Err(ConfigError::invalid(
                "music.choose_from_top",
                "must be 1 to 50",
            ));
        }
        self.youtube.validate()?;
        self.stream.validate()?;
        if self.player.volume > 100 {
            return Err(ConfigError::invalid("player.volume", "must be 0 to 100"));
        }
        if self.mpv.binary.trim().is_empty() {
            return Err(ConfigError::invalid("mpv.binary", "must name a program"));
        }
        self.http_listen()?;
        let public = &self.http.public_url;
        if !public.is_empty()
            && !((public.starts_with("http://") || public.starts_with("https://"))
                && public.len() > "https://".len()
                && !public.contains(char::is_whitespace))
        {
            return Err(ConfigError::invalid(
                "http.public_url",
                "must be how players reach this companion, e.g. http://192.168.1.20:8080",
            ));
        }
        self.validate_rooms()?;
        xpressify_protocol::Topics::new(self.mqtt.discovery_prefix.clone(), "x").map_err(|_| {
            ConfigError::invalid(
                "mqtt.discovery_prefix",
                "use non-empty levels separated by `/`, without `+` or `#`",
            )
        })?;
        let token = &self.http.token;
        if !token.is_empty()
            && (token.expose().len() < 12 || token.expose().chars().any(|c| c.is_whitespace()))
        {
            return Err(ConfigError::invalid(
                "http.token",
                "at least 12 characters, no spaces (or empty to have one generated)",
            ));
        }
        let read = &self.http.read_token;
        if !read.is_empty()
            && (read.expose().len() < 12 || !read.expose().chars().all(|c| c.is_ascii_graphic()))
        {
            return Err(ConfigError::invalid(
                "http.read_token",
                "at least 12 printable ASCII characters, no spaces (or empty: reading is open)",
            ));
        }
        if !read.is_empty() && read == token {
            return Err(ConfigError::invalid(
                "http.read_token",
                "must differ from http.token (the control token reads anyway)",
            ));
        }
        if !(1..=4096).contains(&self.mqtt.max_devices) {
            return Err(ConfigError::invalid(
                "mqtt.max_devices",
                "must be 1 to 4096",
            ));
        }
        let h = &self.http;
        for (key, value, max) in [
            ("http.max_connections", h.max_connections, 16_384),
            (
                "http.max_connections_per_client",
                h.max_connections_per_client,
                16_384,
            ),
            ("http.max_event_streams", h.max_event_streams, 16_384),
        ] {
            if !(1..=max).contains(&value) {
                return Err(ConfigError::invalid(key, format!("must be 1 to {max}")));
            }
        }
        if h.max_connections_per_client > h.max_connections {
            return Err(ConfigError::invalid(
                "http.max_connections_per_client",
                "must not exceed http.max_connections",
            ));
        }
        if !(0.1..=3600.0).contains(&h.header_timeout_s) {
            return Err(ConfigError::invalid(
                "http.header_timeout_s",
                "must be 0.1 s to 1 h, e.g. \"10s\"",
            ));
        }
        if let Some(bad) = h
            .allowed_hosts
            .iter()
            .find(|n| n.is_empty() || n.contains(['/', ':', ' ']))
        {
            return Err(ConfigError::invalid(
                "http.allowed_hosts",
                format!("{bad:?}: a host name without scheme or port, e.g. \"music.home.arpa\""),
            ));
        }
        Ok(())
    }

    /// Fills secrets from their `*_file` keys (a file path, or a systemd credential's name).
    pub fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        use xpressify_protocol::secret::fill_from_file;
        fill_from_file(
            &mut self.mqtt.password,
            &self.mqtt.password_file,
            "mqtt.password",
            "mqtt.password_file",
        )?;
        fill_from_file(
            &mut self.youtube.api_key,
            &self.youtube.api_key_file,
            "youtube.api_key",
            "youtube.api_key_file",
        )?;
        fill_from_file(
            &mut self.home_assistant.token,
            &self.home_assistant.token_file,
            "home_assistant.token",
            "home_assistant.token_file",
        )?;
        fill_from_file(
            &mut self.mpd.password,
            &self.mpd.password_file,
            "mpd.password",
            "mpd.password_file",
        )?;
        fill_from_file(
            &mut self.http.token,
            &self.http.token_file,
            "http.token",
            "http.token_file",
        )?;
        fill_from_file(
            &mut self.http.read_token,
            &self.http.read_token_file,
            "http.read_token",
            "http.read_token_file",
        )
    }

    /// The mapping table, checked.
    pub fn mapping(&self) -> Result<Mapping, ConfigError> {
        Mapping {
            policy: self.music.policy,
            emotions: self.music.emotions.clone(),
        }
        .normalized()
    }

    /// The schedule's timing.
    pub fn timing(&self) -> Timing {
        Timing {
            start_after: Duration::from_secs_f64(self.music.start_after_s.max(0.0)),
            switch_after: Duration::from_secs_f64(self.music.switch_after_s.max(0.0)),
        }
    }

    /// The recommender's options.
    pub fn recommend_options(&self) -> RecommendOptions {
        RecommendOptions {
            prefer_local: self.music.prefer_local,
            avoid_recent: self.music.avoid_recent as usize,
            choose_from_top: self.music.choose_from_top as usize,
        }
    }

    /// The HTTP server's address, checked.
    pub fn http_listen(&self) -> Result<SocketAddr, ConfigError> {
        self.http.listen.parse().map_err(|_| {
            ConfigError::invalid(
                "http.listen",
                format!(
                    "{:?}: expected ADDRESS:PORT such as 127.0.0.1:8080",
                    self.http.listen
                ),
            )
        })
    }

    /// Where people on the LAN open the page, for Home Assistant's "Visit" link:
    /// `http.public_url`, else `http.listen` when it names one address of this machine on the
    /// network (not loopback, not every address); `None` when neither tells.
    pub fn page_url(&self) -> Option<String> {
        if !self.http.public_url.is_empty() {
            return Some(format!("{}/", self.http.public_url.trim_end_matches('/')));
        }
        let addr = self.http_listen().ok()?;
        let ip = addr.ip();
        (!ip.is_loopback() && !ip.is_unspecified()).then(|| format!("http://{addr}/"))
    }

    /// Whether some room's player opens the companion's `/stream` URLs for YouTube picks, and
    /// so gets them only through yt-dlp on this machine.
    pub fn player_streams_youtube(&self) -> bool {
        self.rooms().iter().any(RoomPlan::streams_youtube)
    }

    /// The rooms as the service runs them: `[[rooms]]`, or one room with every device and
    /// `[player]`.
    pub fn rooms(&self) -> Vec<RoomPlan> {
        if self.rooms.is_empty() {
            return vec![self.plan(DEFAULT_ROOM, &[], &RoomPlayer::default())];
        }
        self.rooms
            .iter()
            .map(|r| self.plan(&r.name, &r.devices, &r.player))
            .collect()
    }

    fn plan(&self, name: &str, devices: &[String], p: &RoomPlayer) -> RoomPlan {
        let mut mpv = self.mpv.clone();
        if let Some(device) = &p.audio_device {
            mpv.extra_args.push(format!("--audio-device={device}"));
        }
        let mut mpd = self.mpd.clone();
        if let Some(address) = &p.address {
            mpd.address.clone_from(address);
        }
        let mut dlna = self.dlna.clone();
        if let Some(renderer) = &p.renderer {
            dlna.renderer.clone_from(renderer);
        }
        let mut home_assistant = self.home_assistant_sink();
        if let Some(entity) = &p.entity_id {
            home_assistant.entity_id.clone_from(entity);
        }
        RoomPlan {
            name: name.to_string(),
            devices: devices.to_vec(),
            sink: p.sink.unwrap_or(self.player.sink),
            volume: p.volume.unwrap_or(self.player.volume),
            mpv,
            mpd,
            dlna,
            home_assistant,
        }
    }

    /// Checks the rooms: names, devices in one room each, one web player, and each room's
    /// player settings.
    fn validate_library(&self) -> Result<(), ConfigError> {
        let l = &self.library;
        if !(crate::library::decode::MIN_SECONDS..=600.0).contains(&l.seconds) {
            return Err(ConfigError::invalid(
                "library.seconds",
                format!(
                    "{}: use {} to 600 seconds",
                    l.seconds,
                    crate::library::decode::MIN_SECONDS
                ),
            ));
        }
        if l.rescan_minutes > 10_080 {
            return Err(ConfigError::invalid(
                "library.rescan_minutes",
                "at most 10080 (a week); 0 scans only at start",
            ));
        }
        if l.threads > 64 {
            return Err(ConfigError::invalid("library.threads", "at most 64"));
        }
        if !l.folder.is_empty() && !self.local.folder.is_empty() {
            return Err(ConfigError::invalid(
                "local.folder",
                "set library.folder or local.folder, not both: library.folder scans the folder \
                 and reads its catalogue.toml too",
            ));
        }
        Ok(())
    }

    fn validate_rooms(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        let mut placed = std::collections::HashMap::new();
        for (i, room) in self.rooms.iter().enumerate() {
            let key = |k: &str| format!("rooms[{i}].{k}");
            let name = room.name.trim();
            if name.is_empty() || name.len() > 32 || name != room.name {
                return Err(ConfigError::invalid(
                    key("name"),
                    "1 to 32 characters, without spaces around them",
                ));
            }
            // Topics and Home Assistant know a room by its id ("Living room" → living-room).
            let id = xpressify_protocol::topics::room_id(name);
            if id.is_empty() {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("{name:?} needs a letter or a digit"),
                ));
            }
            if !names.insert(id) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!(
                        "{name:?} names two rooms (names differ in more than case and punctuation)"
                    ),
                ));
            }
            for device in &room.devices {
                if let Some(other) = placed.insert(device.clone(), name.to_string()) {
                    return Err(ConfigError::invalid(
                        key("devices"),
                        format!("{device:?} is in room {other:?} already"),
                    ));
                }
            }
            let p = &room.player;
            if p.volume.is_some_and(|v| v > 100) {
                return Err(ConfigError::invalid(
                    key("player.volume"),
                    "must be 0 to 100",
                ));
            }
            for (k, v) in [
                ("audio_device", &p.audio_device),
                ("address", &p.address),
                ("renderer", &p.renderer),
                ("entity_id", &p.entity_id),
            ] {
                if v.as_ref().is_some_and(|v| v.trim().is_empty()) {
                    return Err(ConfigError::invalid(
                        key(&format!("player.{k}")),
                        "must not be empty (leave it out to use the sink's section)",
                    ));
                }
            }
        }
        let plans = self.rooms();
        if plans.iter().filter(|r| r.sink == SinkKind::Web).count() > 1 {
            return Err(ConfigError::invalid(
                "rooms",
                "one room at most plays on the web page (player.sink = \"web\")",
            ));
        }
        if plans.iter().filter(|r| r.sink == SinkKind::Mpv).count() > 1
            && !self.mpv.socket.is_empty()
        {
            return Err(ConfigError::invalid(
                "mpv.socket",
                "several rooms play through mpv: leave it empty so each mpv gets its own",
            ));
        }
        for plan in &plans {
            self.validate_player(plan)?;
        }
        Ok(())
    }

    /// Checks the settings a room's sink needs.
    fn validate_player(&self, plan: &RoomPlan) -> Result<(), ConfigError> {
        match plan.sink {
            SinkKind::HomeAssistant => {
                let ha = &plan.home_assistant;
                ha.validate()?;
                if ha.youtube == YoutubeMode::Stream && ha.media_base_url.is_empty() {
                    return Err(ConfigError::invalid(
                        "home_assistant.media_base_url",
                        "home_assistant.youtube = \"stream\" needs how the player reaches this \
                         companion: set it, or http.public_url (e.g. http://192.168.1.20:8080)",
                    ));
                }
            }
            SinkKind::Mpd => plan.mpd.validate()?,
            SinkKind::Dlna => {
                plan.dlna.validate()?;
                if self.http.public_url.is_empty() {
                    return Err(ConfigError::invalid(
                        "http.public_url",
                        "a DLNA renderer fetches each pick from this companion: set how it \
                         reaches it, e.g. http://192.168.1.20:8080 (with http.listen = \
                         \"0.0.0.0:8080\")",
                    ));
                }
            }
            SinkKind::Web | SinkKind::Mpv => {}
        }
        Ok(())
    }

    /// The Home Assistant sink's settings, its media base URL defaulting to `http.public_url`
    /// (only when that is set: a TV cannot open this machine's loopback).
    pub fn home_assistant_sink(&self) -> HomeAssistantConfig {
        let mut c = self.home_assistant.clone();
        if c.media_base_url.is_empty() {
            c.media_base_url = self.http.public_url.trim_end_matches('/').to_string();
        }
        c
    }

    /// The base of the URLs players open (`http.public_url`, else this machine's loopback at
    /// the port of `http.listen`).
    pub fn public_url(&self) -> Result<String, ConfigError> {
        if !self.http.public_url.is_empty() {
            return Ok(self.http.public_url.trim_end_matches('/').to_string());
        }
        Ok(format!("http://127.0.0.1:{}", self.http_listen()?.port()))
    }

    /// The broker address, checked.
    pub fn broker(&self) -> Result<BrokerUrl, ConfigError> {
        self.mqtt_keys().check()
    }

    /// Connection options (credentials, keep-alive, TLS), checked; TLS files are read here.
    pub fn mqtt_options(&self) -> Result<rumqttc::MqttOptions, ConfigError> {
        client::mqtt_options(&self.mqtt_keys(), &self.mqtt.client_id)
    }

    fn mqtt_keys(&self) -> MqttKeys<'_> {
        MqttKeys {
            url: &self.mqtt.url,
            prefix: &self.mqtt.prefix,
            username: &self.mqtt.username,
            password: self.mqtt.password.expose(),
            keep_alive_s: self.mqtt.keep_alive_s,
            ca_file: &self.mqtt.ca_file,
            client_cert_file: &self.mqtt.client_cert_file,
            client_key_file: &self.mqtt.client_key_file,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpressify_protocol::config;

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../config/companion.toml");
        let c: CompanionConfig =
            config::load(Some(("companion.toml", text)), Vec::new()).expect("loads");
        c.validate().expect("valid");
    }

    #[test]
    fn bad_values_name_their_key() {
        let c: CompanionConfig = config::load(
            None,
            vec![("XPRESSIFY__MQTT__URL".to_string(), "broker".to_string())],
        )
        .expect("types are fine");
        let err = c.validate().expect_err("no scheme").to_string();
        assert!(err.contains("mqtt.url"), "{err}");
        let err = config::load::<CompanionConfig>(
            None,
            vec![("XPRESSIFY__YOUTUBE__SAFE_SEARCH".into(), "off".into())],
        )
        .expect_err("not a choice")
        .to_string();
        assert!(
            err.contains("youtube.safe_search") && err.contains("strict"),
            "{err}"
        );
        for (var, value, key) in [
            ("XPRESSIFY__PLAYER__VOLUME", "120", "player.volume"),
            ("XPRESSIFY__HTTP__LISTEN", "8080", "http.listen"),
            (
                "XPRESSIFY__MUSIC__CHOOSE_FROM_TOP",
                "0",
                "music.choose_from_top",
            ),
            ("XPRESSIFY__HTTP__READ_TOKEN", "short", "http.read_token"),
            (
                "XPRESSIFY__HTTP__READ_TOKEN",
                "has a space in it",
                "http.read_token",
            ),
        ] {
            let c: CompanionConfig =
                config::load(None, vec![(var.to_string(), value.to_string())]).expect("types");
            let err = c.validate().expect_err(var).to_string();
            assert!(err.contains(key), "{var}: {err}");
        }
    }

    #[test]
    fn a_mapping_edit_in_the_file_keeps_the_other_defaults() {
        let text = "[music]\npolicy = \"lift\"\n[music.emotions.sad]\nmatch = [\"blues\"]\n";
        let c: CompanionConfig = config::load(Some(("c.toml", text)), Vec::new()).expect("loads");
        c.validate().expect("valid");
        let m = c.mapping().expect("mapping");
        assert_eq!(m.policy, Policy::Lift);
        assert_eq!(
            m.entry(Emotion::Sad).match_queries,
            vec!["blues".to_string()]
        );
        assert!(
            m.phrases(Emotion::Happy)
                .contains(&"happy upbeat songs".to_string())
        );
        let bad = "[music.emotions.sad]\nlanguages = [\"English\"]\n";
        let c: CompanionConfig = config::load(Some(("c.toml", bad)), Vec::new()).expect("loads");
        let err = c.validate().expect_err("bad language").to_string();
        assert!(err.contains("music.emotions.sad.languages[0]"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_the_printed_config() {
        let mut c = CompanionConfig::default();
        c.youtube.api_key = "AIzaSecret".into();
        c.home_assistant.token = "tok".into();
        c.http.read_token = "read-secret-123".into();
        let shown = xpressify_protocol::config::to_toml(&c).expect("toml");
        assert!(
            !shown.contains("AIzaSecret")
                && !shown.contains("\"tok\"")
                && !shown.contains("read-secret"),
            "{shown}"
        );
        c.http.token = "read-secret-123".into();
        let err = c.validate().expect_err("the same token twice").to_string();
        assert!(err.contains("http.read_token"), "{err}");
    }
}
