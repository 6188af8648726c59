//! What the companion plays for a device, on `…/now_playing` (retained), so the device's
//! display and Home Assistant can show it.

use serde::{Deserialize, Serialize};

use crate::schema::{self, SCHEMA_VERSION};
use crate::{DecodeError, Emotion};

/// Where a pick came from, with what is needed to play it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum Track {
    /// A YouTube video, played by id.
    Youtube {
        /// The 11-character video id.
        video_id: String,
    },
    /// A file of the local catalogue.
    Local {
        /// Path relative to the catalogue folder.
        file: String,
    },
}

/// The player's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaybackState {
    /// Sound is coming out.
    Playing,
    /// Paused by a listener.
    Paused,
    /// Nothing queued.
    Stopped,
}

/// The pick being played for one device. (Unknown fields are refused by [`Track`], which
/// receives every field not named here.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NowPlaying {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema: u32,
    /// Song or video title.
    pub title: String,
    /// Artist, or the YouTube channel.
    pub artist: String,
    /// Where it came from and how to play it (`source` plus `video_id` or `file`).
    #[serde(flatten)]
    pub track: Track,
    /// The mood it was picked for.
    pub mood: Emotion,
    /// Playing, paused or stopped.
    pub state: PlaybackState,
    /// Milliseconds since the Unix epoch, when this state began.
    pub timestamp_ms: u64,
}

impl NowPlaying {
    /// Parses a `…/now_playing` payload; never panics, whatever the bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        schema::check(payload)?;
        let value: serde_json::Value = serde_json::from_slice(payload)?;
        if let Some(mood) = value.get("mood").and_then(|m| m.as_str()) {
            mood.parse::<Emotion>()?;
        }
        let np: NowPlaying = serde_json::from_value(value)?;
        if np.title.trim().is_empty() {
            return Err(DecodeError::range("title", "empty"));
        }
        match &np.track {
            Track::Youtube { video_id } if video_id.is_empty() => {
                Err(DecodeError::range("video_id", "empty"))
            }
            Track::Local { file } if file.is_empty() => Err(DecodeError::range("file", "empty")),
            _ => Ok(NowPlaying {
                schema: SCHEMA_VERSION,
                ..np
            }),
        }
    }

    /// The JSON payload.
    pub fn encode(&self) -> Vec<u8> {
        crate::to_json(self)
    }
}
