//! Playback and feedback commands on `…/command` (a device's) and on
//! `<prefix>/companion/<room>/command` (a room's), from the device's buttons, the web page or
//! Home Assistant's buttons, all in one shape.

use serde::{Deserialize, Serialize};

use crate::{DecodeError, Emotion};

/// What a listener asked for. JSON with a `command` tag: `{"command":"skip"}`,
/// `{"command":"set_volume","volume":40}`. Commands carry no schema version so that a
/// Home Assistant button can send a fixed string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Start or resume playback.
    Play,
    /// Pause playback.
    Pause,
    /// Skip to the next pick (counts as negative feedback for the current one).
    Skip,
    /// The current pick suits the mood.
    Like,
    /// The current pick does not suit the mood.
    Dislike,
    /// Set the volume, in percent.
    SetVolume {
        /// 0 to 100.
        volume: u8,
    },
    /// Whether the room's music follows the moods its cameras read ("music follows my
    /// mood"); off, the music plays on but no longer changes on moods.
    Follow {
        /// On or off.
        on: bool,
    },
    /// "Play for this mood": the room's music follows `mood` for `minutes` whatever the
    /// cameras read (when detection is wrong, or to change the atmosphere); `null` goes back
    /// to following the cameras.
    SetMood {
        /// The mood to play for; `None` follows the cameras again.
        mood: Option<Emotion>,
        /// How long, 1 to 1440 minutes; absent: the companion's `music.choose_minutes`.
        minutes: Option<u16>,
    },
    /// "My mood is …": the device's reading is wrong and the listener says what the mood
    /// is. The companion stores it with what the device saw and fits the device's
    /// calibration from such corrections (`…/calibration`). On a device's `…/command` only.
    CorrectMood {
        /// The listener's mood.
        mood: Emotion,
    },
    /// Forget the device's corrections so far: the companion publishes the identity
    /// calibration. On a device's `…/command` only.
    ResetCalibration,
}

/// The longest a chosen mood may last, in minutes (a day).
pub const MAX_CHOSEN_MINUTES: u16 = 1440;

impl Command {
    /// Parses a `…/command` payload; never panics, whatever the bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let command: Command = serde_json::from_slice(payload)?;
        if let Command::SetVolume { volume } = command
            && volume > 100
        {
            return Err(DecodeError::range(
                "volume",
                format!("{volume} is above 100 %"),
            ));
        }
        if let Command::SetMood {
            minutes: Some(m), ..
        } = command
            && !(1..=MAX_CHOSEN_MINUTES).contains(&m)
        {
            return Err(DecodeError::range(
                "minutes",
                format!("{m}: use 1 to {MAX_CHOSEN_MINUTES}"),
            ));
        }
        Ok(command)
    }

    /// The JSON payload.
    pub fn encode(&self) -> Vec<u8> {
        crate::to_json(self)
    }

    /// The `command` tag, e.g. `"skip"`: a name for logs, buttons and the discovery ids.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Play => "play",
            Command::Pause => "pause",
            Command::Skip => "skip",
            Command::Like => "like",
            Command::Dislike => "dislike",
            Command::SetVolume { .. } => "set_volume",
            Command::Follow { .. } => "follow",
            Command::SetMood { .. } => "set_mood",
            Command::CorrectMood { .. } => "correct_mood",
            Command::ResetCalibration => "reset_calibration",
        }
    }
}
