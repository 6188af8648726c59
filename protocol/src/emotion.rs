//! The seven emotion classes, in the one order every part of Xpressify uses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DecodeError;

/// One of FER2013's seven classes. The discriminant is the FER label id, which is also the
/// index into every probability vector and the model's output, so the order never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    /// FER label 0.
    Angry = 0,
    /// FER label 1 (the rarest class: 1.5 % of FER2013).
    Disgust = 1,
    /// FER label 2.
    Fear = 2,
    /// FER label 3.
    Happy = 3,
    /// FER label 4.
    Sad = 4,
    /// FER label 5.
    Surprise = 5,
    /// FER label 6.
    Neutral = 6,
}

impl Emotion {
    /// All classes in FER order, so `Emotion::ALL[i]` names probability `i`.
    pub const ALL: [Emotion; 7] = [
        Emotion::Angry,
        Emotion::Disgust,
        Emotion::Fear,
        Emotion::Happy,
        Emotion::Sad,
        Emotion::Surprise,
        Emotion::Neutral,
    ];

    /// Number of classes; the length of every probability vector.
    pub const COUNT: usize = 7;

    /// The FER label id, i.e. the index of this class in a probability vector.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class for a FER label id, `None` past 6.
    pub fn from_index(index: usize) -> Option<Emotion> {
        Emotion::ALL.get(index).copied()
    }

    /// The lowercase wire name (`"happy"`), as used in payloads and Home Assistant options.
    pub fn as_str(self) -> &'static str {
        match self {
            Emotion::Angry => "angry",
            Emotion::Disgust => "disgust",
            Emotion::Fear => "fear",
            Emotion::Happy => "happy",
            Emotion::Sad => "sad",
            Emotion::Surprise => "surprise",
            Emotion::Neutral => "neutral",
        }
    }
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Emotion {
    type Err = DecodeError;

    /// Accepts the wire name in any letter case, surrounded by optional whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Emotion::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| DecodeError::UnknownEmotion(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_matches_fer_labels() {
        for (i, e) in Emotion::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert_eq!(Emotion::from_index(i), Some(*e));
        }
        assert_eq!(Emotion::from_index(7), None);
    }

    #[test]
    fn names_round_trip() {
        for e in Emotion::ALL {
            assert_eq!(e.to_string().parse::<Emotion>().ok(), Some(e));
            let json = serde_json::to_string(&e).unwrap_or_default();
            assert_eq!(json, format!("\"{e}\""));
        }
        assert_eq!(" HAPPY ".parse::<Emotion>().ok(), Some(Emotion::Happy));
    }

    #[test]
    fn unknown_name_is_a_typed_error() {
        assert!(matches!(
            "contempt".parse::<Emotion>(),
            Err(DecodeError::UnknownEmotion(name)) if name == "contempt"
        ));
    }
}
