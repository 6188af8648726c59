//! What the page and `GET /api/status` show of the service: the devices as last heard, the
//! day's YouTube budget, what plays. Plain data, built by [`crate::service`] and sent as JSON.

use std::collections::BTreeMap;

use serde::Serialize;
use xpressify_protocol::{Emotion, NowPlaying, PlaybackState};

use crate::source::YoutubeHealth;

/// A device as the companion last heard it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceView {
    /// Its id.
    pub id: String,
    /// Whether its availability says online.
    pub online: bool,
    /// Its newest mood (`None`: no face, or not heard yet).
    pub emotion: Option<Emotion>,
    /// The device's confidence in it.
    pub confidence: f32,
    /// When it was announced (ms since the epoch; 0: never).
    pub since_ms: u64,
    /// The seven probabilities behind it, in FER order (all 0 with no face).
    pub probabilities: [f32; 7],
    /// When the companion last heard a valid message from it (ms since the epoch).
    pub heard_ms: u64,
    /// Its camera is off (the privacy switch): its room does not follow it.
    pub paused: bool,
    /// The calibration published for it (`None`: none since the companion started).
    pub calibration: Option<CalibrationView>,
}

/// A device's calibration as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationView {
    /// Its version.
    pub version: u64,
    /// Corrections it was fitted from (0: reset).
    pub corrections: u32,
    /// The offsets, in FER order.
    pub offsets: [f32; 7],
}

/// How much of the day's YouTube budget is left.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    /// Requests made since midnight Pacific time.
    pub spent: u32,
    /// `youtube.daily_budget`.
    pub budget: u32,
    /// When the count resets (ms since the epoch).
    pub resets_ms: u64,
}

/// A room as the page shows it: its devices, mood and player.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomView {
    /// Its name.
    pub name: String,
    /// The devices in it: listed in the config, or heard and joined to it.
    pub devices: Vec<String>,
    /// The mood its music follows.
    pub mood: Option<Emotion>,
    /// The device that mood came from.
    pub mood_device: Option<String>,
    /// What it plays.
    pub now_playing: Option<NowPlaying>,
    /// Its player's state.
    pub state: PlaybackState,
    /// The store's id of its playing pick.
    pub pick_id: Option<i64>,
    /// Its sink's name.
    pub sink: String,
    /// Its newest problem.
    pub problem: Option<String>,
    /// Whether its music changes with the moods ("music follows my mood").
    pub follow: bool,
    /// A mood a listener chose for it, while that holds.
    pub chosen: Option<xpressify_protocol::ChosenMood>,
    /// Why its current pick was made, in words.
    pub why: Option<String>,
}

/// What the web page and `GET /api/status` show. The top-level mood, player and problem are
/// the first room's (all there is with one room); `rooms` has every room.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Status {
    /// The mood the music follows.
    pub mood: Option<Emotion>,
    /// The device it came from.
    pub mood_device: Option<String>,
    /// What plays, as published on `now_playing`.
    pub now_playing: Option<NowPlaying>,
    /// The store's id of the playing pick (for feedback).
    pub pick_id: Option<i64>,
    /// Every device heard.
    pub devices: Vec<DeviceView>,
    /// Whether the broker connection is up.
    pub broker_connected: bool,
    /// YouTube's state (`None`: not configured).
    pub youtube: Option<YoutubeHealth>,
    /// YouTube requests left today.
    pub youtube_budget: Option<Budget>,
    /// `match` or `lift`.
    pub policy: Option<crate::mapping::Policy>,
    /// The sink's name.
    pub sink: String,
    /// The newest problem worth showing a person (no music, sink failing…).
    pub problem: Option<String>,
    /// Refused payloads per channel (`devices`: new devices ignored, `mqtt.max_devices`).
    pub refused: BTreeMap<String, u64>,
    /// Incoming messages dropped because the service fell too far behind the broker.
    pub dropped: u64,
    /// Every room.
    pub rooms: Vec<RoomView>,
}
