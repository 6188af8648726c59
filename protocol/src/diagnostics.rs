//! `…/diagnostics`: how a device is doing, every half minute (retained), for Home Assistant's
//! diagnostic entities and for whoever debugs a box from afar: frame rate, per-stage inference
//! time, faces, model, camera state, CPU temperature and uptime.

use serde::{Deserialize, Serialize};

use crate::schema::{self, SCHEMA_VERSION};
use crate::{DecodeError, ModelInfo};

/// The highest frame rate a report may carry (a decoder refuses more).
pub const MAX_FPS: f32 = 1000.0;

/// What the camera is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraStatus {
    /// Frames arrive.
    On,
    /// Turned off by the privacy switch: closed, no frames read.
    Off,
    /// Wanted on, but the last attempt to read a frame failed (unplugged, busy).
    Failed,
}

impl CameraStatus {
    /// Every value, as Home Assistant's `enum` options.
    pub const ALL: [CameraStatus; 3] = [CameraStatus::On, CameraStatus::Off, CameraStatus::Failed];

    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraStatus::On => "on",
            CameraStatus::Off => "off",
            CameraStatus::Failed => "failed",
        }
    }
}

/// One diagnostics report of a device. Times are averages over the frames since the last
/// report; `None` where nothing was measured (no frame, no face, no thermal sensor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diagnostics {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema: u32,
    /// The publishing device.
    pub device_id: String,
    /// The camera's state.
    pub camera: CameraStatus,
    /// Frames analysed per second since the last report.
    pub fps: f32,
    /// Mean face-detection time per frame, in milliseconds.
    pub detect_ms: Option<f32>,
    /// Mean emotion-classification time per frame with a face, in milliseconds.
    pub classify_ms: Option<f32>,
    /// Faces in the latest frame.
    pub faces: u32,
    /// The emotion model in use.
    pub model: ModelInfo,
    /// The CPU's temperature in °C, where `/sys/class/thermal` has it.
    pub cpu_temp_c: Option<f32>,
    /// Seconds since the device started.
    pub uptime_s: u64,
    /// Milliseconds since the Unix epoch, when the report was made.
    pub timestamp_ms: u64,
    /// The version of the calibration applied to readings (`…/calibration`); `None` while
    /// the device has none. Absent in reports of builds before calibrations.
    #[serde(default)]
    pub calibration_version: Option<u64>,
}

fn check_range(field: &'static str, value: Option<f32>, max: f32) -> Result<(), DecodeError> {
    match value {
        Some(v) if !(v.is_finite() && (0.0..=max).contains(&v)) => Err(DecodeError::range(
            field,
            format!("{v} is not a number from 0 to {max}"),
        )),
        _ => Ok(()),
    }
}

impl Diagnostics {
    /// Parses and validates a `…/diagnostics` payload; never panics, whatever the bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        schema::check(payload)?;
        let d: Diagnostics = serde_json::from_slice(payload)?;
        check_range("fps", Some(d.fps), MAX_FPS)?;
        check_range("detect_ms", d.detect_ms, 600_000.0)?;
        check_range("classify_ms", d.classify_ms, 600_000.0)?;
        if let Some(t) = d.cpu_temp_c
            && !(t.is_finite() && (-60.0..=200.0).contains(&t))
        {
            return Err(DecodeError::range(
                "cpu_temp_c",
                format!("{t} is not a CPU temperature"),
            ));
        }
        Ok(Diagnostics {
            schema: SCHEMA_VERSION,
            device_id: crate::topics::checked_device_id(d.device_id)?,
            ..d
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

    fn sample() -> Diagnostics {
        Diagnostics {
            schema: SCHEMA_VERSION,
            device_id: "kitchen".into(),
            camera: CameraStatus::On,
            fps: 9.8,
            detect_ms: Some(6.5),
            classify_ms: None,
            faces: 0,
            model: ModelInfo {
                name: "xpressify-edge".into(),
                version: "1".into(),
            },
            cpu_temp_c: Some(51.2),
            uptime_s: 3600,
            timestamp_ms: 1,
            calibration_version: Some(2),
        }
    }

    #[test]
    fn round_trips() {
        let d = sample();
        assert_eq!(Diagnostics::decode(&d.encode()).ok(), Some(d));
    }

    #[test]
    fn refuses_impossible_figures() {
        for bad in [
            Diagnostics {
                fps: f32::NAN,
                ..sample()
            },
            Diagnostics {
                detect_ms: Some(-1.0),
                ..sample()
            },
            Diagnostics {
                cpu_temp_c: Some(900.0),
                ..sample()
            },
        ] {
            // NaN serialises as null, which is not a number: refused either way.
            assert!(Diagnostics::decode(&bad.encode()).is_err(), "{bad:?}");
        }
    }
}
