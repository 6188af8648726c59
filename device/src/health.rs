//! What the device reports about itself on `…/diagnostics`: frame rate and per-stage inference
//! time averaged since the last report, faces, model, camera state, CPU temperature (read from
//! `/sys/class/thermal`, as on a Raspberry Pi) and uptime.

use std::path::Path;
use std::time::{Duration, Instant};

use xpressify_protocol::diagnostics::{CameraStatus, MAX_FPS};
use xpressify_protocol::{Diagnostics, ModelInfo, SCHEMA_VERSION};

/// Where Linux exposes the CPU's temperature, in millidegrees Celsius.
pub const THERMAL_ZONE: &str = "/sys/class/thermal/thermal_zone0/temp";

/// The CPU's temperature in °C, if this machine has a thermal sensor.
pub fn cpu_temperature() -> Option<f32> {
    read_millidegrees(Path::new(THERMAL_ZONE))
}

fn read_millidegrees(path: &Path) -> Option<f32> {
    let text = std::fs::read_to_string(path).ok()?;
    let milli: f32 = text.trim().parse().ok()?;
    let celsius = milli / 1000.0;
    (celsius.is_finite() && (-60.0..=200.0).contains(&celsius)).then_some(celsius)
}

/// Sums per frame since the last report.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    window_start: Instant,
    frames: u32,
    detect: Duration,
    classified: u32,
    classify: Duration,
    faces: u32,
}

impl Health {
    /// Counting from `started` (the device's start, for the uptime).
    pub fn new(started: Instant) -> Self {
        Health {
            started,
            window_start: Instant::now(),
            frames: 0,
            detect: Duration::ZERO,
            classified: 0,
            classify: Duration::ZERO,
            faces: 0,
        }
    }

    /// One analysed frame: its detection time, its classification time (if it had faces) and
    /// its face count.
    pub fn frame(&mut self, detect: Duration, classify: Option<Duration>, faces: u32) {
        self.frames += 1;
        self.detect += detect;
        if let Some(c) = classify {
            self.classified += 1;
            self.classify += c;
        }
        self.faces = faces;
    }

    /// The camera is closed: no faces to report.
    pub fn paused(&mut self) {
        self.faces = 0;
    }

    /// The report for the time since the last one; starts a new window.
    pub fn report(
        &mut self,
        device_id: &str,
        model: &ModelInfo,
        camera: CameraStatus,
        timestamp_ms: u64,
    ) -> Diagnostics {
        let now = Instant::now();
        let window = now
            .saturating_duration_since(self.window_start)
            .as_secs_f32();
        let mean_ms = |total: Duration, n: u32| {
            (n > 0).then(|| (total.as_secs_f32() * 1000.0 / n as f32 * 10.0).round() / 10.0)
        };
        let report = Diagnostics {
            schema: SCHEMA_VERSION,
            device_id: device_id.to_string(),
            camera,
            // A window of a few microseconds (two reports in a row) must not claim a million
            // frames per second.
            fps: if window > 0.0 {
                ((self.frames as f32 / window).min(MAX_FPS) * 10.0).round() / 10.0
            } else {
                0.0
            },
            detect_ms: mean_ms(self.detect, self.frames),
            classify_ms: mean_ms(self.classify, self.classified),
            faces: self.faces,
            model: model.clone(),
            cpu_temp_c: cpu_temperature(),
            uptime_s: now.saturating_duration_since(self.started).as_secs(),
            timestamp_ms,
            calibration_version: None,
        };
        *self = Health {
            started: self.started,
            window_start: now,
            faces: self.faces,
            ..Health::new(self.started)
        };
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_per_stage_and_resets_each_report() {
        let mut h = Health::new(Instant::now());
        h.frame(Duration::from_millis(4), Some(Duration::from_millis(10)), 1);
        h.frame(Duration::from_millis(6), None, 0);
        let model = ModelInfo {
            name: "m".into(),
            version: "1".into(),
        };
        let r = h.report("a", &model, CameraStatus::On, 1);
        assert_eq!(r.detect_ms, Some(5.0));
        assert_eq!(r.classify_ms, Some(10.0), "only frames with a face count");
        assert_eq!(r.faces, 0);
        assert!(r.fps > 0.0);
        let empty = h.report("a", &model, CameraStatus::Off, 2);
        assert_eq!((empty.detect_ms, empty.classify_ms), (None, None));
        assert_eq!(empty.fps, 0.0);
        // A report always decodes (bounded, finite figures).
        assert!(Diagnostics::decode(&r.encode()).is_ok());
    }

    #[test]
    fn reads_millidegrees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("temp");
        std::fs::write(&path, "51234\n").expect("write");
        assert_eq!(read_millidegrees(&path), Some(51.234));
        std::fs::write(&path, "junk").expect("write");
        assert_eq!(read_millidegrees(&path), None);
        assert_eq!(read_millidegrees(&dir.path().join("absent")), None);
    }
}
