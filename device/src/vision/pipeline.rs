//! The vision loop: frames → faces → emotions → stable mood, turned into the messages the
//! MQTT session publishes. It runs on a thread of its own (inference is CPU-bound) and hands
//! [`Update`]s to the session's task through a channel, so a slow or absent broker never
//! stalls it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};
use xpressify_protocol::{
    Command, Emotion, ModelInfo, MoodEvent, Probabilities, ProbabilitiesEvent, SCHEMA_VERSION,
};

use crate::camera::FrameSource;
use crate::vision::analyze::{AnalysedFace, Analyzer};
use crate::vision::mood::{FaceReading, Mood, MoodTracker};

/// What the device's parts (the vision loop, the buttons) hand the MQTT session to publish.
#[derive(Debug, Clone)]
pub enum Update {
    /// The announced mood changed: publish retained, and again after a reconnect.
    Mood(MoodEvent),
    /// The periodic raw reading.
    Probabilities(ProbabilitiesEvent),
    /// A button was pressed: published once on `…/command` if the broker is there (a press
    /// replayed minutes later would surprise the listener, so none is kept while offline).
    Command(Command),
}

/// Counters of one run, for the log and the benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub struct PipelineStats {
    /// Frames analysed.
    pub frames: u64,
    /// Frames the source failed to deliver (logged and skipped).
    pub source_errors: u64,
    /// Mood changes announced.
    pub mood_changes: u64,
}

/// Settings of the loop that are not the models'.
pub struct PipelineSettings {
    /// The device id put into every message.
    pub device_id: String,
    /// The classifier's name and version.
    pub model: ModelInfo,
    /// Time between `probabilities` messages; zero disables them.
    pub probabilities_every: Duration,
}

fn to_probabilities(values: [f32; Emotion::COUNT]) -> Probabilities {
    // Smoothed and softmax outputs are valid by construction; renormalise against drift.
    let sum: f32 = values.iter().sum();
    let normalised = if sum > 0.0 {
        values.map(|v| (v / sum).clamp(0.0, 1.0))
    } else {
        values
    };
    Probabilities::new(normalised).unwrap_or(Probabilities::NONE)
}

fn mood_event(settings: &PipelineSettings, mood: &Mood, timestamp_ms: u64, seq: u64) -> MoodEvent {
    let probabilities = if mood.emotion.is_some() {
        to_probabilities(mood.probabilities)
    } else {
        Probabilities::NONE
    };
    MoodEvent {
        schema: SCHEMA_VERSION,
        device_id: settings.device_id.clone(),
        emotion: mood.emotion,
        confidence: mood.emotion.map_or(0.0, |e| probabilities.get(e)),
        probabilities,
        faces: mood.faces,
        timestamp_ms,
        seq,
        model: settings.model.clone(),
    }
}

/// Runs until the source ends, `stop` is set or the session's side of `updates` is gone.
/// `camera_ok` follows whether the last attempt to get a frame worked (for the screen's mark).
pub fn run(
    source: &mut dyn FrameSource,
    analyzer: &Analyzer,
    tracker: &mut MoodTracker,
    settings: &PipelineSettings,
    updates: &mpsc::Sender<Update>,
    camera_ok: &watch::Sender<bool>,
    stop: &Arc<AtomicBool>,
) -> PipelineStats {
    let mut stats = PipelineStats::default();
    let start = Instant::now();
    let mut last_probabilities: Option<Instant> = None;
    let (mut mood_seq, mut prob_seq) = (0u64, 0u64);
    let mut follower = analyzer.follower();
    info!(source = source.describe(), "vision loop started");
    while !stop.load(Ordering::Relaxed) && !updates.is_closed() {
        let next = source.next_frame();
        let ok = next.is_ok();
        camera_ok.send_if_modified(|c| std::mem::replace(c, ok) != ok);
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                info!("frame source ended");
                break;
            }
            Err(e) => {
                stats.source_errors += 1;
                // A camera gone for minutes would otherwise fill the log at frame rate.
                if stats.source_errors.is_power_of_two() {
                    warn!(error = %e, failures = stats.source_errors, "skipping a frame");
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let faces: Vec<AnalysedFace> = match analyzer.analyse_next(&frame.image, &mut follower) {
            Ok((faces, _)) => faces,
            Err(e) => {
                warn!(error = %e, frame = frame.index, "analysis failed; skipping the frame");
                continue;
            }
        };
        stats.frames += 1;
        let readings: Vec<FaceReading> = faces
            .iter()
            .map(|f| FaceReading {
                area: f.face.area(),
                probabilities: f.probabilities,
            })
            .collect();
        let now = frame.captured.saturating_duration_since(start);
        if let Some(mood) = tracker.update(now, &readings) {
            stats.mood_changes += 1;
            mood_seq += 1;
            let event = mood_event(settings, &mood, frame.timestamp_ms, mood_seq);
            info!(
                emotion = mood
                    .emotion
                    .map_or("none (no face)".to_string(), |e| e.to_string()),
                confidence = format!("{:.2}", event.confidence),
                faces = mood.faces,
                "mood changed"
            );
            if updates.blocking_send(Update::Mood(event)).is_err() {
                break;
            }
        }
        let due = last_probabilities
            .is_none_or(|t| frame.captured.duration_since(t) >= settings.probabilities_every);
        if !settings.probabilities_every.is_zero() && due {
            last_probabilities = Some(frame.captured);
            prob_seq += 1;
            let followed = faces
                .iter()
                .max_by(|a, b| a.face.area().total_cmp(&b.face.area()));
            let event = ProbabilitiesEvent {
                schema: SCHEMA_VERSION,
                device_id: settings.device_id.clone(),
                probabilities: followed
                    .map_or(Probabilities::NONE, |f| to_probabilities(f.probabilities)),
                faces: faces.len() as u32,
                timestamp_ms: frame.timestamp_ms,
                seq: prob_seq,
            };
            // Raw readings are expendable: drop one rather than wait for a busy session.
            let _ = updates.try_send(Update::Probabilities(event));
        }
    }
    info!(
        frames = stats.frames,
        mood_changes = stats.mood_changes,
        source_errors = stats.source_errors,
        peak_rss_mib = crate::bench::peak_rss_mib().unwrap_or(f64::NAN),
        "vision loop stopped"
    );
    stats
}
