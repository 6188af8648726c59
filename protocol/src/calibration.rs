//! `…/calibration`: the per-device correction of the emotion model's output that the
//! companion fits from a household's "that's not my mood" corrections, retained so a device
//! that restarts gets it back from the broker. The device applies it to every reading before
//! its mood tracker; [`Calibration::apply`] is that one formula, shared by both sides.

use serde::{Deserialize, Serialize};

use crate::schema::{self, SCHEMA_VERSION};
use crate::{DecodeError, Emotion};

/// The largest offset of one class, in logits (natural log of odds): ×7.4 the odds. A fit
/// is capped to it and a decoder refuses more, so no payload can pin one class.
pub const MAX_OFFSET: f32 = 2.0;

/// The temperatures a decoder accepts: a quarter to four times the model's own.
pub const TEMPERATURE_RANGE: (f32, f32) = (0.25, 4.0);

/// A probability below this is read as this before taking its logarithm (a softmax output
/// is never exactly 0; a rounded one on the wire may be).
const FLOOR: f32 = 1e-6;

/// A calibration for one device: per-class logit offsets and a temperature. The identity
/// (all offsets 0, temperature 1) leaves readings as the model made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema: u32,
    /// The device it is for (also in the topic).
    pub device_id: String,
    /// Added to the model's log-probabilities, in FER order (angry … neutral); each within
    /// ±[`MAX_OFFSET`].
    pub offsets: [f32; Emotion::COUNT],
    /// The log-probabilities are divided by it before the offsets are added.
    pub temperature: f32,
    /// How many corrections the fit used (0 for the identity).
    pub corrections: u32,
    /// Increases with every calibration the companion publishes for the device, resets
    /// included, so a device (and its diagnostics) can tell which one it uses.
    pub version: u64,
}

impl Calibration {
    /// The calibration that changes nothing, e.g. after "reset calibration".
    pub fn identity(device_id: impl Into<String>, version: u64) -> Self {
        Calibration {
            schema: SCHEMA_VERSION,
            device_id: device_id.into(),
            offsets: [0.0; Emotion::COUNT],
            temperature: 1.0,
            corrections: 0,
            version,
        }
    }

    /// True when applying it changes nothing.
    pub fn is_identity(&self) -> bool {
        self.offsets.iter().all(|o| *o == 0.0) && self.temperature == 1.0
    }

    /// Parses and validates a `…/calibration` payload; never panics, whatever the bytes.
    /// Refuses offsets beyond ±[`MAX_OFFSET`], temperatures outside [`TEMPERATURE_RANGE`],
    /// anything not finite, and a bad device id.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        schema::check(payload)?;
        let c: Calibration = serde_json::from_slice(payload)?;
        for (e, o) in Emotion::ALL.iter().zip(c.offsets) {
            if !(o.is_finite() && o.abs() <= MAX_OFFSET) {
                return Err(DecodeError::range(
                    "offsets",
                    format!("{e}: {o} is not a number from -{MAX_OFFSET} to {MAX_OFFSET}"),
                ));
            }
        }
        let (lo, hi) = TEMPERATURE_RANGE;
        if !(c.temperature.is_finite() && (lo..=hi).contains(&c.temperature)) {
            return Err(DecodeError::range(
                "temperature",
                format!("{} is not a number from {lo} to {hi}", c.temperature),
            ));
        }
        Ok(Calibration {
            schema: SCHEMA_VERSION,
            device_id: crate::topics::checked_device_id(c.device_id)?,
            ..c
        })
    }

    /// The JSON payload.
    pub fn encode(&self) -> Vec<u8> {
        crate::to_json(self)
    }

    /// The calibrated probabilities of one reading: `softmax(ln p / temperature + offsets)`.
    /// The all-zero "no face" vector stays all zero.
    pub fn apply(&self, probabilities: [f32; Emotion::COUNT]) -> [f32; Emotion::COUNT] {
        if probabilities.iter().all(|p| *p <= 0.0) || self.is_identity() {
            return probabilities;
        }
        let t = if self.temperature > 0.0 {
            self.temperature
        } else {
            1.0
        };
        let mut z = [0.0f32; Emotion::COUNT];
        for ((z, p), o) in z.iter_mut().zip(probabilities).zip(self.offsets) {
            *z = p.max(FLOOR).ln() / t + o;
        }
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in &mut z {
            *v = (*v - max).exp();
            sum += *v;
        }
        z.map(|v| v / sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Calibration {
        Calibration {
            offsets: [0.1, -0.2, 0.0, 0.0, -0.5, 0.0, 0.6],
            corrections: 12,
            ..Calibration::identity("kitchen", 3)
        }
    }

    #[test]
    fn round_trips() {
        let c = sample();
        assert_eq!(Calibration::decode(&c.encode()).ok(), Some(c));
    }

    #[test]
    fn refuses_junk() {
        let mut big = sample();
        big.offsets[2] = 2.5;
        let mut cold = sample();
        cold.temperature = 0.0;
        let mut bad_id = sample();
        bad_id.device_id = "a/b".into();
        for bad in [big, cold, bad_id] {
            assert!(Calibration::decode(&bad.encode()).is_err(), "{bad:?}");
        }
        for raw in [
            &br#"{"schema":1,"device_id":"k","offsets":[0,0,0],"temperature":1,"corrections":0,"version":1}"#[..],
            br#"{"schema":1,"device_id":"k","offsets":[0,0,0,0,0,0,"x"],"temperature":1,"corrections":0,"version":1}"#,
            br#"{"schema":1,"device_id":"k","offsets":[0,0,0,0,0,0,0],"temperature":1,"corrections":-1,"version":1}"#,
            br#"{"schema":1,"device_id":"k","offsets":[0,0,0,0,0,0,0],"temperature":1,"corrections":0,"version":1,"x":1}"#,
            b"\xff\xfe",
        ] {
            assert!(Calibration::decode(raw).is_err());
        }
    }

    #[test]
    fn apply_shifts_the_odds_by_the_offsets() {
        let p = [0.1, 0.05, 0.05, 0.2, 0.3, 0.1, 0.2];
        let c = sample();
        let q = c.apply(p);
        assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // The odds of two classes change by exp(offset difference), nothing else.
        let ratio = (q[6] / q[4]) / (p[6] / p[4]);
        assert!((ratio - (0.6f32 + 0.5).exp()).abs() < 1e-3, "{ratio}");
        assert_eq!(Calibration::identity("k", 0).apply(p), p);
        assert_eq!(c.apply([0.0; 7]), [0.0; 7]);
    }
}
