//! What the device says about the listener: the announced mood and the raw probabilities.

use serde::{Deserialize, Serialize};

use crate::schema::{self, SCHEMA_VERSION};
use crate::{DecodeError, Emotion, Probabilities};

/// Which model produced a reading, so a history can tell results of different models apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// The model's name, e.g. `xpressify-edge`.
    pub name: String,
    /// Its version, e.g. `1` or a date.
    pub version: String,
}

/// The stable mood of one device, published (retained) on `…/mood` when it changes.
///
/// `emotion` is `None` while no face is seen; `probabilities` are then all zero and
/// `confidence` is 0. Otherwise `confidence` is the smoothed probability of `emotion`.
/// `paused` is true while the privacy switch has the camera off (and `emotion` is then `None`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoodEvent {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema: u32,
    /// The publishing device (also in the topic, repeated so a payload stands alone).
    pub device_id: String,
    /// The announced mood, `None` for "no face".
    pub emotion: Option<Emotion>,
    /// The smoothed probability of `emotion`, in [0, 1].
    pub confidence: f32,
    /// The smoothed probabilities of all seven classes, after the device's calibration.
    pub probabilities: Probabilities,
    /// Faces in the frame that produced this event.
    pub faces: u32,
    /// Milliseconds since the Unix epoch, when the frame was taken.
    pub timestamp_ms: u64,
    /// Increases by one per published event of a device; a gap means a lost message.
    pub seq: u64,
    /// The classifier that produced it.
    pub model: ModelInfo,
    /// The camera is off (the privacy switch): nothing is read, so there is no mood.
    pub paused: bool,
}

/// The unsmoothed per-frame probabilities as the model made them (before the device's
/// calibration), published on `…/probabilities` at a fixed rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbabilitiesEvent {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema: u32,
    /// The publishing device.
    pub device_id: String,
    /// Probabilities of the face the mood follows (all zero when no face).
    pub probabilities: Probabilities,
    /// Faces in the frame.
    pub faces: u32,
    /// Milliseconds since the Unix epoch, when the frame was taken.
    pub timestamp_ms: u64,
    /// Frame sequence number.
    pub seq: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMood {
    #[allow(dead_code)]
    schema: u32,
    device_id: String,
    emotion: Option<String>,
    confidence: f64,
    probabilities: Vec<serde_json::Value>,
    faces: u32,
    timestamp_ms: u64,
    seq: u64,
    model: ModelInfo,
    // Absent in messages of builds before the privacy switch.
    #[serde(default)]
    paused: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbabilities {
    #[allow(dead_code)]
    schema: u32,
    device_id: String,
    probabilities: Vec<serde_json::Value>,
    faces: u32,
    timestamp_ms: u64,
    seq: u64,
}

impl MoodEvent {
    /// Parses and validates a `…/mood` payload; never panics, whatever the bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        schema::check(payload)?;
        let raw: RawMood = serde_json::from_slice(payload)?;
        let emotion = raw.emotion.as_deref().map(str::parse).transpose()?;
        let probabilities = Probabilities::try_from(raw.probabilities)?;
        let confidence = raw.confidence as f32;
        if !confidence.is_finite() || !(0.0..=1.0).contains(&confidence) {
            return Err(DecodeError::range(
                "confidence",
                format!("{confidence} is not in [0, 1]"),
            ));
        }
        match emotion {
            None if !probabilities.is_none() || confidence != 0.0 => {
                return Err(DecodeError::range(
                    "emotion",
                    "null (no face) needs all-zero probabilities and confidence 0",
                ));
            }
            Some(_) if probabilities.is_none() => {
                return Err(DecodeError::Probabilities(
                    "all zero, but an emotion was given".into(),
                ));
            }
            _ => {}
        }
        if raw.paused && (emotion.is_some() || raw.faces != 0) {
            return Err(DecodeError::range(
                "paused",
                "a paused camera reads no face: emotion must be null and faces 0",
            ));
        }
        Ok(MoodEvent {
            schema: SCHEMA_VERSION,
            device_id: crate::topics::checked_device_id(raw.device_id)?,
            emotion,
            confidence,
            probabilities,
            faces: raw.faces,
            timestamp_ms: raw.timestamp_ms,
            seq: raw.seq,
            model: raw.model,
            paused: raw.paused,
        })
    }

    /// The JSON payload.
    pub fn encode(&self) -> Vec<u8> {
        crate::to_json(self)
    }
}

impl ProbabilitiesEvent {
    /// Parses and validates a `…/probabilities` payload; never panics, whatever the bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        schema::check(payload)?;
        let raw: RawProbabilities = serde_json::from_slice(payload)?;
        Ok(ProbabilitiesEvent {
            schema: SCHEMA_VERSION,
            device_id: crate::topics::checked_device_id(raw.device_id)?,
            probabilities: Probabilities::try_from(raw.probabilities)?,
            faces: raw.faces,
            timestamp_ms: raw.timestamp_ms,
            seq: raw.seq,
        })
    }

    /// The JSON payload.
    pub fn encode(&self) -> Vec<u8> {
        crate::to_json(self)
    }
}
