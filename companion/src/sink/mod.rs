//! Where picks are played: the web page's embedded player, a local speaker through `mpv`, or
//! a TV / networked speaker through Home Assistant. All take the same commands, and each
//! reports when a track has ended, which is when the next pick starts.

pub mod dlna;
mod home_assistant;
mod mpd;
mod mpv;
mod web;

use std::future::Future;

use serde::{Deserialize, Serialize};
use xpressify_protocol::Track;

pub use dlna::{DlnaConfig, DlnaSink};
pub use home_assistant::{HomeAssistantConfig, HomeAssistantSink, YoutubeMode};
pub use mpd::{MpdConfig, MpdSink};
pub use mpv::{MpvConfig, MpvSink};
pub use web::{WebPlayer, WebPlayerHandle, WebSink};

/// A pick, ready to play.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayItem {
    /// The store's pick id.
    pub pick_id: i64,
    /// Where it comes from.
    pub track: Track,
    /// Title shown to people.
    pub title: String,
    /// Artist or channel.
    pub artist: String,
}

impl PlayItem {
    /// The page a person (or yt-dlp, or a TV) opens for a YouTube track.
    pub fn youtube_url(&self) -> Option<String> {
        match &self.track {
            Track::Youtube { video_id } => {
                Some(format!("https://www.youtube.com/watch?v={video_id}"))
            }
            Track::Local { .. } => None,
        }
    }
}

/// The companion's `/stream/<pick id>` URLs, for players that open a URL and cannot run
/// yt-dlp or read the catalogue's folder (MPD, DLNA renderers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUrls {
    base: String,
    read_token: Option<String>,
}

impl StreamUrls {
    /// URLs under `base` (`http.public_url`), carrying `read_token` (`http.read_token`; empty:
    /// none) as `?access_token=`, since a player cannot send headers with a URL.
    pub fn new(base: &str, read_token: &str) -> StreamUrls {
        StreamUrls {
            base: base.trim_end_matches('/').to_string(),
            read_token: (!read_token.is_empty()).then(|| read_token.to_string()),
        }
    }

    /// The URL of a pick.
    pub fn of(&self, item: &PlayItem) -> String {
        let url = format!("{}/stream/{}", self.base, item.pick_id);
        match &self.read_token {
            Some(token) => format!("{url}?access_token={}", percent_encode(token)),
            None => url,
        }
    }
}

/// Percent-encodes one URL path segment or query value (RFC 3986's unreserved kept).
pub(crate) fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether a pick handed over at `started` has had `seconds` to start: how the sinks whose
/// players accept anything and then fail silently (Home Assistant, DLNA renderers) tell a
/// refusal from a slow start.
pub(crate) fn overdue(started: Option<std::time::Instant>, seconds: f64) -> bool {
    started.is_some_and(|t| t.elapsed() >= std::time::Duration::from_secs_f64(seconds))
}

/// Whether a polling sink is due to ask its player again (`every_s` since the last time);
/// when it is, the time is noted.
pub(crate) fn poll_due(last: &mut Option<std::time::Instant>, every_s: f64) -> bool {
    if last.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs_f64(every_s)) {
        return false;
    }
    *last = Some(std::time::Instant::now());
    true
}

/// What a sink noticed since it was last polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkEvent {
    /// The track played to its end.
    Ended,
    /// The track could not be played (bad file, unavailable video…).
    Failed(String),
}

/// Why a sink could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{sink}: {message}")]
pub struct SinkError {
    /// The sink's name.
    pub sink: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl SinkError {
    fn new(sink: &'static str, message: impl Into<String>) -> Self {
        SinkError {
            sink,
            message: message.into(),
        }
    }
}

/// Something that plays picks.
///
/// A whole implementation that "plays" into a log, ending each track at the next poll:
/// ```
/// use xpressify_companion::sink::{PlayItem, PlaybackSink, SinkError, SinkEvent};
///
/// #[derive(Default)]
/// struct Logger { playing: bool, log: Vec<String> }
///
/// impl PlaybackSink for Logger {
///     fn name(&self) -> &'static str { "logger" }
///     async fn play(&mut self, item: &PlayItem) -> Result<(), SinkError> {
///         self.log.push(format!("play {}", item.title));
///         self.playing = true;
///         Ok(())
///     }
///     async fn pause(&mut self) -> Result<(), SinkError> { Ok(()) }
///     async fn resume(&mut self) -> Result<(), SinkError> { Ok(()) }
///     async fn stop(&mut self) -> Result<(), SinkError> { self.playing = false; Ok(()) }
///     async fn set_volume(&mut self, _percent: u8) -> Result<(), SinkError> { Ok(()) }
///     async fn poll(&mut self) -> Result<Option<SinkEvent>, SinkError> {
///         Ok(std::mem::take(&mut self.playing).then_some(SinkEvent::Ended))
///     }
/// }
/// ```
pub trait PlaybackSink {
    /// A short name for logs and the history (`web`, `mpv`, `home_assistant`).
    fn name(&self) -> &'static str;
    /// Starts a pick, replacing whatever played.
    fn play(&mut self, item: &PlayItem) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Pauses.
    fn pause(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Resumes after a pause.
    fn resume(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Stops and unloads.
    fn stop(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Sets the volume in percent (0–100).
    fn set_volume(&mut self, percent: u8) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Reports what happened since the last poll; called about once a second.
    fn poll(&mut self) -> impl Future<Output = Result<Option<SinkEvent>, SinkError>> + Send;
}

/// The sink chosen in the config (`player.sink`).
pub enum AnySink {
    /// The web page's player.
    Web(WebSink),
    /// A local speaker (boxed: it is large, and there is one sink per process).
    Mpv(Box<MpvSink>),
    /// Home Assistant's media player.
    HomeAssistant(HomeAssistantSink),
    /// A Music Player Daemon.
    Mpd(MpdSink),
    /// A DLNA / UPnP renderer.
    Dlna(Box<DlnaSink>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnySink::Web($s) => $e,
            AnySink::Mpv($s) => $e,
            AnySink::HomeAssistant($s) => $e,
            AnySink::Mpd($s) => $e,
            AnySink::Dlna($s) => $e,
        }
    };
}

impl PlaybackSink for AnySink {
    fn name(&self) -> &'static str {
        each!(self, s => s.name())
    }
    async fn play(&mut self, item: &PlayItem) -> Result<(), SinkError> {
        each!(self, s => s.play(item).await)
    }
    async fn pause(&mut self) -> Result<(), SinkError> {
        each!(self, s => s.pause().await)
    }
    async fn resume(&mut self) -> Result<(), SinkError> {
        each!(self, s => s.resume().await)
    }
    async fn stop(&mut self) -> Result<(), SinkError> {
        each!(self, s => s.stop().await)
    }
    async fn set_volume(&mut self, percent: u8) -> Result<(), SinkError> {
        each!(self, s => s.set_volume(percent).await)
    }
    async fn poll(&mut self) -> Result<Option<SinkEvent>, SinkError> {
        each!(self, s => s.poll().await)
    }
}
