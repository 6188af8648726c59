//! The device's figures for Prometheus: frames read, mood changes, per-stage inference time as
//! histograms, faces in view, whether the camera is on, frames the camera failed to deliver.
//! Recorded through the `metrics` facade into the process's one recorder
//! ([`xpressify_protocol::telemetry`]); served by [`crate::metrics_listener`] when
//! `metrics.listen` is set. Without a recorder every call here costs next to nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use xpressify_protocol::Emotion;

/// Frames analysed.
pub const FRAMES: &str = "xpressify_device_frames_total";
/// Mood changes announced, by the new mood (`no_face` included).
pub const MOOD_CHANGES: &str = "xpressify_device_mood_changes_total";
/// Seconds face detection took per frame.
pub const DETECT_SECONDS: &str = "xpressify_device_detect_seconds";
/// Seconds the emotion model took per frame with a face.
pub const CLASSIFY_SECONDS: &str = "xpressify_device_classify_seconds";
/// Faces in the latest frame.
pub const FACES: &str = "xpressify_device_faces";
/// 1 while the privacy switch lets the camera be used.
pub const CAMERA_ON: &str = "xpressify_device_camera_on";
/// Frames the camera failed to deliver.
pub const SOURCE_ERRORS: &str = "xpressify_device_source_errors_total";

/// `[metrics]` in the device config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `ADDRESS:PORT` to answer `GET /metrics` on (e.g. `0.0.0.0:9101`); empty: no listener.
    pub listen: String,
}

/// Installs the process's recorder and describes the device's figures; the error says why
/// there is none.
pub fn install() -> Result<(), String> {
    xpressify_protocol::telemetry::install()?;
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(FRAMES, "Frames analysed.");
    describe_counter!(MOOD_CHANGES, "Mood changes announced, by mood.");
    describe_histogram!(
        DETECT_SECONDS,
        metrics::Unit::Seconds,
        "Face detection per frame."
    );
    describe_histogram!(
        CLASSIFY_SECONDS,
        metrics::Unit::Seconds,
        "Emotion model per frame with a face."
    );
    describe_gauge!(FACES, "Faces in the latest frame.");
    describe_gauge!(
        CAMERA_ON,
        "1 while the privacy switch lets the camera be used."
    );
    describe_counter!(SOURCE_ERRORS, "Frames the camera failed to deliver.");
    Ok(())
}

/// One analysed frame.
pub fn frame(detect: Duration, classify: Option<Duration>, faces: usize) {
    metrics::counter!(FRAMES).increment(1);
    metrics::histogram!(DETECT_SECONDS).record(detect.as_secs_f64());
    if let Some(c) = classify {
        metrics::histogram!(CLASSIFY_SECONDS).record(c.as_secs_f64());
    }
    metrics::gauge!(FACES).set(faces as f64);
}

/// An announced change to `mood` (`None`: no face).
pub fn mood_change(mood: Option<Emotion>) {
    let label = mood.map_or("no_face", Emotion::as_str);
    metrics::counter!(MOOD_CHANGES, "emotion" => label).increment(1);
}

/// The privacy switch's state.
pub fn camera(on: bool) {
    metrics::gauge!(CAMERA_ON).set(f64::from(u8::from(on)));
}

/// A frame the camera failed to deliver.
pub fn source_error() {
    metrics::counter!(SOURCE_ERRORS).increment(1);
}
