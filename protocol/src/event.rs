//! `…/event`: one message per announced mood change, for Home Assistant's `event` entity and
//! any automation that wants "the mood became sad" rather than a state to compare.
//!
//! Unlike `…/mood` it is never retained and never re-sent: a reconnect, a restart of Home
//! Assistant or a refreshed confidence does not fire it again.

use serde::{Deserialize, Serialize};

use crate::schema::{self, SCHEMA_VERSION};
use crate::{DecodeError, Emotion};

/// The event type for "nobody in view any more".
pub const NO_FACE: &str = "no_face";

/// What an event says: one of the seven emotions, or [`NO_FACE`].
pub fn event_types() -> Vec<&'static str> {
    Emotion::ALL
        .iter()
        .map(|e| e.as_str())
        .chain([NO_FACE])
        .collect()
}

/// One announced mood change of a device. Home Assistant takes `event_type` as the event and
/// the other fields as its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct MoodChange {
    /// The publishing device.
    pub device_id: String,
    /// The new mood; `None` for "no face".
    pub mood: Option<Emotion>,
    /// The mood before; `None` for "no face" (or nothing announced since start).
    pub previous: Option<Emotion>,
    /// The smoothed probability of the new mood (0 for no face).
    pub confidence: f32,
    /// Faces in the frame that made the change.
    pub faces: u32,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The `seq` of the `…/mood` message announcing the same change.
    pub seq: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    schema: u32,
    event_type: String,
    device_id: String,
    previous: String,
    confidence: f32,
    faces: u32,
    timestamp_ms: u64,
    seq: u64,
}

fn word(mood: Option<Emotion>) -> String {
    mood.map_or(NO_FACE, |e| e.as_str()).to_string()
}

fn parse_word(text: &str) -> Result<Option<Emotion>, DecodeError> {
    if text == NO_FACE {
        Ok(None)
    } else {
        text.parse().map(Some)
    }
}

impl MoodChange {
    /// The JSON payload.
    pub fn encode(&self) -> Vec<u8> {
        crate::to_json(&Wire {
            schema: SCHEMA_VERSION,
            event_type: word(self.mood),
            device_id: self.device_id.clone(),
            previous: word(self.previous),
            confidence: self.confidence,
            faces: self.faces,
            timestamp_ms: self.timestamp_ms,
            seq: self.seq,
        })
    }

    /// Parses and validates an `…/event` payload; never panics, whatever the bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        schema::check(payload)?;
        let wire: Wire = serde_json::from_slice(payload)?;
        let mood = parse_word(&wire.event_type)?;
        let previous = parse_word(&wire.previous)?;
        let confidence = wire.confidence;
        if !confidence.is_finite() || !(0.0..=1.0).contains(&confidence) {
            return Err(DecodeError::range(
                "confidence",
                format!("{confidence} is not in [0, 1]"),
            ));
        }
        if mood.is_none() && confidence != 0.0 {
            return Err(DecodeError::range("confidence", "no_face needs 0"));
        }
        if mood == previous {
            return Err(DecodeError::range(
                "previous",
                "equals event_type: a change must change something",
            ));
        }
        Ok(MoodChange {
            device_id: crate::topics::checked_device_id(wire.device_id)?,
            mood,
            previous,
            confidence,
            faces: wire.faces,
            timestamp_ms: wire.timestamp_ms,
            seq: wire.seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_no_face() {
        let change = MoodChange {
            device_id: "kitchen".into(),
            mood: Some(Emotion::Sad),
            previous: None,
            confidence: 0.625,
            faces: 1,
            timestamp_ms: 1,
            seq: 7,
        };
        let bytes = change.encode();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains(r#""event_type":"sad""#), "{text}");
        assert!(text.contains(r#""previous":"no_face""#), "{text}");
        assert_eq!(MoodChange::decode(&bytes).ok(), Some(change));
        assert_eq!(event_types().len(), 8);
    }

    #[test]
    fn refuses_unknown_types_and_non_changes() {
        for bad in [
            r#"{"schema":1,"event_type":"bored","device_id":"a","previous":"no_face","confidence":0.5,"faces":1,"timestamp_ms":1,"seq":1}"#,
            r#"{"schema":1,"event_type":"sad","device_id":"a","previous":"sad","confidence":0.5,"faces":1,"timestamp_ms":1,"seq":1}"#,
            r#"{"schema":1,"event_type":"no_face","device_id":"a","previous":"sad","confidence":0.5,"faces":0,"timestamp_ms":1,"seq":1}"#,
        ] {
            assert!(MoodChange::decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
