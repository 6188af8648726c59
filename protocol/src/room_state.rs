//! `<prefix>/companion/<room id>/state` (retained): what a room of the companion plays, its
//! volume and whether its music follows moods — the state behind Home Assistant's
//! now-playing sensor, volume `number` and "music follows my mood" switch.

use serde::{Deserialize, Serialize};

use crate::now_playing::{PlaybackState, Track};
use crate::schema::{self, SCHEMA_VERSION};
use crate::{DecodeError, Emotion};

/// What plays in a room (absent while nothing has played). Unknown fields are refused by
/// [`Track`], which receives every field not named here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomTrack {
    /// Song or video title.
    pub title: String,
    /// Artist, or the YouTube channel.
    pub artist: String,
    /// Where it came from (`source` plus `video_id` or `file`).
    #[serde(flatten)]
    pub track: Track,
    /// The mood it was picked for.
    pub mood: Emotion,
    /// Why it was picked, in words: mood and policy, phrase, what the room taught, source.
    #[serde(default)]
    pub why: String,
}

/// A mood chosen for a room ("play for this mood") and until when it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChosenMood {
    /// The mood the music follows.
    pub mood: Emotion,
    /// Milliseconds since the Unix epoch when the room follows its cameras again.
    pub until_ms: u64,
}

/// One room's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomState {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema: u32,
    /// The room's name as configured (`rooms.name`).
    pub room: String,
    /// Playing, paused or stopped.
    pub state: PlaybackState,
    /// The current pick; `None` before the first.
    pub playing: Option<RoomTrack>,
    /// The volume last set, in percent; `None` until one is set.
    pub volume: Option<u8>,
    /// Whether the music changes with the moods.
    pub follow: bool,
    /// The mood the room's music follows now; `None` before one is heard.
    pub mood: Option<Emotion>,
    /// A mood chosen by a listener, while it holds; `None`: the cameras lead.
    pub chosen: Option<ChosenMood>,
    /// Milliseconds since the Unix epoch, when this state began.
    pub timestamp_ms: u64,
}

impl RoomState {
    /// Parses and validates a room's state; never panics, whatever the bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        schema::check(payload)?;
        let state: RoomState = serde_json::from_slice(payload)?;
        if state.room.trim().is_empty() || state.room.len() > 64 {
            return Err(DecodeError::range("room", "1 to 64 characters"));
        }
        if state.volume.is_some_and(|v| v > 100) {
            return Err(DecodeError::range("volume", "above 100 %"));
        }
        if state
            .playing
            .as_ref()
            .is_some_and(|p| p.title.trim().is_empty())
        {
            return Err(DecodeError::range("title", "empty"));
        }
        Ok(RoomState {
            schema: SCHEMA_VERSION,
            ..state
        })
    }

    /// The JSON payload.
    pub fn encode(&self) -> Vec<u8> {
        crate::to_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_loud_volume() {
        let s = RoomState {
            schema: SCHEMA_VERSION,
            room: "Living room".into(),
            state: PlaybackState::Playing,
            playing: Some(RoomTrack {
                title: "Calm".into(),
                artist: "Band".into(),
                track: Track::Local {
                    file: "calm.ogg".into(),
                },
                mood: Emotion::Sad,
                why: "for sad · phrase \"calm piano\"".into(),
            }),
            volume: Some(40),
            follow: true,
            mood: Some(Emotion::Sad),
            chosen: Some(ChosenMood {
                mood: Emotion::Sad,
                until_ms: 1_800_001,
            }),
            timestamp_ms: 1,
        };
        assert_eq!(RoomState::decode(&s.encode()).ok(), Some(s.clone()));
        let loud = RoomState {
            volume: Some(150),
            ..s
        };
        assert!(RoomState::decode(&loud.encode()).is_err());
    }
}
