//! The seven class probabilities, validated once so every consumer can trust them.

use serde::{Deserialize, Serialize};

use crate::{DecodeError, Emotion};

/// How far the sum of a face's probabilities may stray from 1 (rounding on the wire).
pub const SUM_TOLERANCE: f32 = 0.01;

/// Probabilities in FER order (`Emotion::ALL`), each finite and in [0, 1], summing to 1 —
/// or all zero, meaning "no face seen". Construct with [`Probabilities::new`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<serde_json::Value>", into = "[f32; 7]")]
pub struct Probabilities([f32; Emotion::COUNT]);

impl Probabilities {
    /// The "no face" vector: all zeros.
    pub const NONE: Probabilities = Probabilities([0.0; Emotion::COUNT]);

    /// Validates `values`; errors say which entry is wrong and why.
    pub fn new(values: [f32; Emotion::COUNT]) -> Result<Self, DecodeError> {
        for (e, v) in Emotion::ALL.iter().zip(values) {
            if !v.is_finite() || !(0.0..=1.0).contains(&v) {
                return Err(DecodeError::Probabilities(format!(
                    "{e} is {v}, expected a finite number in [0, 1]"
                )));
            }
        }
        let sum: f32 = values.iter().sum();
        if sum != 0.0 && (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(DecodeError::Probabilities(format!(
                "they sum to {sum}, expected 1 (or all 0 for no face)"
            )));
        }
        Ok(Probabilities(values))
    }

    /// The values in FER order.
    pub fn values(&self) -> &[f32; Emotion::COUNT] {
        &self.0
    }

    /// The probability of one class.
    pub fn get(&self, emotion: Emotion) -> f32 {
        self.0[emotion.index()]
    }

    /// The most likely class and its probability; `None` for the all-zero "no face" vector.
    pub fn top(&self) -> Option<(Emotion, f32)> {
        Emotion::ALL
            .into_iter()
            .zip(self.0)
            .filter(|(_, p)| *p > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// True for the "no face" vector.
    pub fn is_none(&self) -> bool {
        self.0.iter().all(|p| *p == 0.0)
    }
}

impl TryFrom<Vec<serde_json::Value>> for Probabilities {
    type Error = DecodeError;

    fn try_from(raw: Vec<serde_json::Value>) -> Result<Self, Self::Error> {
        if raw.len() != Emotion::COUNT {
            return Err(DecodeError::Probabilities(format!(
                "{} values, expected 7 in the order angry, disgust, fear, happy, sad, surprise, neutral",
                raw.len()
            )));
        }
        let mut values = [0.0f32; Emotion::COUNT];
        for (slot, (value, e)) in values.iter_mut().zip(raw.iter().zip(Emotion::ALL)) {
            *slot = value.as_f64().ok_or_else(|| {
                DecodeError::Probabilities(format!("{e} is {value}, expected a number"))
            })? as f32;
        }
        Probabilities::new(values)
    }
}

impl From<Probabilities> for [f32; Emotion::COUNT] {
    fn from(p: Probabilities) -> Self {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_distribution_and_finds_the_top() {
        let p = Probabilities::new([0.05, 0.0, 0.05, 0.7, 0.1, 0.05, 0.05]).expect("valid");
        assert_eq!(p.top(), Some((Emotion::Happy, 0.7)));
        assert!(Probabilities::NONE.top().is_none());
    }

    #[test]
    fn refuses_out_of_range_nan_and_bad_sums() {
        for bad in [
            [1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [-0.1, 0.0, 0.0, 1.1, 0.0, 0.0, 0.0],
            [f32::NAN, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            [0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ] {
            assert!(matches!(
                Probabilities::new(bad),
                Err(DecodeError::Probabilities(_))
            ));
        }
    }

    #[test]
    fn refuses_wrong_length_and_non_numbers() {
        let short: Result<Probabilities, _> = serde_json::from_str("[1.0, 0.0]");
        assert!(short.is_err());
        let text: Result<Probabilities, _> = serde_json::from_str(r#"["a", 0, 0, 1, 0, 0, 0]"#);
        assert!(text.is_err());
    }
}
