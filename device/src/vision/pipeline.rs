//! The vision loop: frames → faces → emotions → stable mood, turned into the messages the
//! MQTT session publishes. It runs on a thread of its own (inference is CPU-bound) and hands
//! [`Update`]s to the session's task through a channel, so a slow or absent broker never
//! stalls it. It follows the privacy switch: while the camera is off the source is closed
//! (dropped) and nothing is read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};
use xpressify_protocol::diagnostics::CameraStatus;
use xpressify_protocol::{
    Calibration, Command, Diagnostics, Emotion, ModelInfo, MoodChange, MoodEvent, Probabilities,
    ProbabilitiesEvent, SCHEMA_VERSION,
};

use crate::camera::{FrameSource, SourceError};
use crate::health::Health;
use crate::vision::analyze::{AnalysedFace, Analyzer, main_face};
use crate::vision::mood::{FaceReading, Mood, MoodTracker};

/// How far the confidence must move before the mood is published again without a change.
pub const REFRESH_DELTA: f32 = 0.05;

/// How long the loop sleeps between looks at the switch while the camera is off.
const PAUSED_TICK: Duration = Duration::from_millis(100);

/// What the device's parts (the vision loop, the buttons) hand the MQTT session to publish.
#[derive(Debug, Clone)]
pub enum Update {
    /// The announced mood changed, or its confidence moved: publish retained, and again
    /// after a reconnect.
    Mood(MoodEvent),
    /// The announced mood changed: published once on `…/event`, never again.
    Event(MoodChange),
    /// The periodic raw reading.
    Probabilities(ProbabilitiesEvent),
    /// A button was pressed: published once on `…/command` if the broker is there (a press
    /// replayed minutes later would surprise the listener, so none is kept while offline).
    Command(Command),
    /// The periodic report on `…/diagnostics`.
    Diagnostics(Diagnostics),
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
    /// Time between `diagnostics` reports; zero disables them.
    pub diagnostics_every: Duration,
    /// Shortest time between two publications of an unchanged mood whose confidence moved by
    /// [`REFRESH_DELTA`]; zero publishes only changes.
    pub mood_refresh: Duration,
    /// When the device started (for the uptime).
    pub started: Instant,
}

/// Opens the camera (again); called at start and whenever the privacy switch turns it on.
pub type Opener<'a> = &'a dyn Fn() -> Result<Box<dyn FrameSource + Send>, SourceError>;

/// What the loop follows and where it reports, besides the messages.
pub struct Signals<'a> {
    /// Whether the last attempt to get a frame worked (for the screen's mark and the LED).
    pub camera_ok: &'a watch::Sender<bool>,
    /// The privacy switch.
    pub camera_on: watch::Receiver<bool>,
    /// Set to stop.
    pub stop: &'a Arc<AtomicBool>,
    /// The calibration the companion fitted for this device (`…/calibration`), applied to
    /// every reading before the mood tracker; `None` until one arrives.
    pub calibration: watch::Receiver<Option<Calibration>>,
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
        paused: false,
    }
}

/// The loop's memory between frames.
struct Loop<'a> {
    settings: &'a PipelineSettings,
    updates: &'a mpsc::Sender<Update>,
    stats: PipelineStats,
    health: Health,
    mood_seq: u64,
    prob_seq: u64,
    /// The last published mood: its emotion, confidence and when.
    published: (Option<Emotion>, f32, Instant),
    last_probabilities: Option<Instant>,
    last_report: Instant,
    /// The calibration applied to readings, once one has arrived.
    calibration: Option<Calibration>,
}

impl Loop<'_> {
    /// Hands a message to the session; false when the session is gone.
    fn send(&self, update: Update) -> bool {
        self.updates.blocking_send(update).is_ok()
    }

    fn publish_mood(&mut self, event: MoodEvent) -> bool {
        self.published = (event.emotion, event.confidence, Instant::now());
        self.send(Update::Mood(event))
    }

    /// A change the tracker announced: the retained mood and the one-off event.
    fn announce(&mut self, mood: &Mood, timestamp_ms: u64) -> bool {
        self.stats.mood_changes += 1;
        crate::telemetry::mood_change(mood.emotion);
        self.mood_seq += 1;
        let event = mood_event(self.settings, mood, timestamp_ms, self.mood_seq);
        info!(
            emotion = mood
                .emotion
                .map_or("none (no face)".to_string(), |e| e.to_string()),
            confidence = format!("{:.2}", event.confidence),
            faces = mood.faces,
            "mood changed"
        );
        let change = MoodChange {
            device_id: self.settings.device_id.clone(),
            mood: event.emotion,
            previous: self.published.0,
            confidence: event.confidence,
            faces: event.faces,
            timestamp_ms,
            seq: self.mood_seq,
        };
        let previous = self.published.0;
        self.publish_mood(event) && (previous == change.mood || self.send(Update::Event(change)))
    }

    /// An unchanged mood whose confidence moved far enough, not too soon after the last.
    fn refresh(&mut self, mood: &Mood, timestamp_ms: u64) -> bool {
        let (emotion, confidence, at) = self.published;
        let due = !self.settings.mood_refresh.is_zero()
            && mood.emotion.is_some()
            && mood.emotion == emotion
            && at.elapsed() >= self.settings.mood_refresh;
        if !due {
            return true;
        }
        let event = mood_event(self.settings, mood, timestamp_ms, self.mood_seq + 1);
        if (event.confidence - confidence).abs() < REFRESH_DELTA {
            return true;
        }
        self.mood_seq += 1;
        self.publish_mood(event)
    }

    /// The "nobody, camera off" mood (`paused`) or, on resuming, the plain "no face" one.
    fn publish_paused(&mut self, paused: bool) -> bool {
        self.mood_seq += 1;
        let no_face = Mood {
            emotion: None,
            confidence: 0.0,
            probabilities: [0.0; Emotion::COUNT],
            faces: 0,
            since: Duration::ZERO,
        };
        let mut event = mood_event(
            self.settings,
            &no_face,
            crate::camera::unix_ms(),
            self.mood_seq,
        );
        event.paused = paused;
        self.publish_mood(event)
    }

    fn report_if_due(&mut self, camera: CameraStatus) {
        let every = self.settings.diagnostics_every;
        if every.is_zero() || self.last_report.elapsed() < every {
            return;
        }
        self.last_report = Instant::now();
        let mut report = self.health.report(
            &self.settings.device_id,
            &self.settings.model,
            camera,
            crate::camera::unix_ms(),
        );
        report.calibration_version = self.calibration.as_ref().map(|c| c.version);
        // Like raw readings, a report is expendable.
        let _ = self.updates.try_send(Update::Diagnostics(report));
    }

    /// Takes a calibration the session received since the last frame.
    fn follow_calibration(&mut self, latest: &mut watch::Receiver<Option<Calibration>>) {
        if !latest.has_changed().unwrap_or(false) {
            return;
        }
        let Some(calibration) = latest.borrow_and_update().clone() else {
            return;
        };
        info!(
            version = calibration.version,
            corrections = calibration.corrections,
            offsets = ?calibration.offsets,
            temperature = calibration.temperature,
            "applying the calibration to readings"
        );
        self.calibration = Some(calibration);
    }

    fn probabilities_if_due(
        &mut self,
        faces: &[AnalysedFace],
        captured: Instant,
        timestamp_ms: u64,
    ) {
        let every = self.settings.probabilities_every;
        let due = self
            .last_probabilities
            .is_none_or(|t| captured.duration_since(t) >= every);
        if every.is_zero() || !due {
            return;
        }
        self.last_probabilities = Some(captured);
        self.prob_seq += 1;
        let followed = main_face(faces).and_then(|i| faces[i].probabilities);
        let event = ProbabilitiesEvent {
            schema: SCHEMA_VERSION,
            device_id: self.settings.device_id.clone(),
            probabilities: followed.map_or(Probabilities::NONE, to_probabilities),
            faces: faces.len() as u32,
            timestamp_ms,
            seq: self.prob_seq,
        };
        // Raw readings are expendable: drop one rather than wait for a busy session.
        let _ = self.updates.try_send(Update::Probabilities(event));
    }
}

/// What the tracker hears of a frame: the faces that could be read, calibrated.
pub fn calibrated_readings(
    faces: &[AnalysedFace],
    calibration: Option<&Calibration>,
) -> Vec<FaceReading> {
    let mut out = readings(faces);
    if let Some(c) = calibration {
        for r in &mut out {
            r.probabilities = c.apply(r.probabilities);
        }
    }
    out
}

/// What the tracker hears of a frame: the faces that could be read, as the model read them.
pub fn readings(faces: &[AnalysedFace]) -> Vec<FaceReading> {
    faces
        .iter()
        .filter_map(|f| {
            f.probabilities.map(|probabilities| FaceReading {
                area: f.face.area(),
                probabilities,
            })
        })
        .collect()
}

/// Runs until the source ends, `stop` is set or the session's side of `updates` is gone.
/// The camera is opened with `open` while the privacy switch is on, and closed while it is
/// off.
pub fn run(
    open: Opener<'_>,
    analyzer: &Analyzer,
    tracker: &mut MoodTracker,
    settings: &PipelineSettings,
    updates: &mpsc::Sender<Update>,
    signals: Signals<'_>,
) -> PipelineStats {
    let Signals {
        camera_ok,
        camera_on,
        stop,
        mut calibration,
    } = signals;
    let mut state = Loop {
        settings,
        updates,
        stats: PipelineStats::default(),
        health: Health::new(settings.started),
        mood_seq: 0,
        prob_seq: 0,
        published: (None, 0.0, Instant::now()),
        last_probabilities: None,
        last_report: Instant::now(),
        calibration: None,
    };
    let start = Instant::now();
    let mut source: Option<Box<dyn FrameSource + Send>> = None;
    let mut paused = false;
    let mut follower = analyzer.follower();
    let mut memory = analyzer.reading_memory();
    crate::telemetry::camera(*camera_on.borrow());
    info!("vision loop started");
    while !stop.load(Ordering::Relaxed) && !updates.is_closed() {
        if !*camera_on.borrow() {
            if !paused {
                paused = true;
                crate::telemetry::camera(false);
                if source.take().is_some() {
                    info!("camera closed (privacy switch)");
                }
                tracker.reset();
                follower = analyzer.follower();
                memory.reset();
                state.health.paused();
                camera_ok.send_if_modified(|c| !std::mem::replace(c, true));
                if !state.publish_paused(true) {
                    break;
                }
            }
            state.report_if_due(CameraStatus::Off);
            std::thread::sleep(PAUSED_TICK);
            continue;
        }
        if paused {
            paused = false;
            crate::telemetry::camera(true);
            info!("camera on again (privacy switch)");
            if !state.publish_paused(false) {
                break;
            }
        }
        let camera = if *camera_ok.borrow() {
            CameraStatus::On
        } else {
            CameraStatus::Failed
        };
        state.report_if_due(camera);
        let src = match &mut source {
            Some(src) => src,
            None => match open() {
                Ok(opened) => {
                    info!(source = opened.describe(), "camera opened");
                    source.insert(opened)
                }
                Err(e) => {
                    state.stats.source_errors += 1;
                    crate::telemetry::source_error();
                    camera_ok.send_if_modified(|c| std::mem::replace(c, false));
                    if state.stats.source_errors.is_power_of_two() {
                        warn!(error = %e, failures = state.stats.source_errors, "cannot open the camera");
                    }
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            },
        };
        let next = src.next_frame();
        let ok = next.is_ok();
        camera_ok.send_if_modified(|c| std::mem::replace(c, ok) != ok);
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                info!("frame source ended");
                break;
            }
            Err(e) => {
                state.stats.source_errors += 1;
                crate::telemetry::source_error();
                // A camera gone for minutes would otherwise fill the log at frame rate.
                if state.stats.source_errors.is_power_of_two() {
                    warn!(error = %e, failures = state.stats.source_errors, "skipping a frame");
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let now = frame.captured.saturating_duration_since(start);
        let analysis = match analyzer.analyse_next(&frame.image, &mut follower, &mut memory, now) {
            Ok(analysis) => analysis,
            Err(e) => {
                warn!(error = %e, frame = frame.index, "analysis failed; skipping the frame");
                continue;
            }
        };
        state.stats.frames += 1;
        let faces = analysis.faces;
        state
            .health
            .frame(analysis.detect, analysis.classify, faces.len() as u32);
        crate::telemetry::frame(analysis.detect, analysis.classify, faces.len());
        state.follow_calibration(&mut calibration);
        let readings = calibrated_readings(&faces, state.calibration.as_ref());
        let sent = match tracker.update_in_view(now, faces.len() as u32, &readings) {
            Some(mood) => state.announce(&mood, frame.timestamp_ms),
            None => {
                let mood = *tracker.mood();
                state.refresh(&mood, frame.timestamp_ms)
            }
        };
        if !sent {
            break;
        }
        state.probabilities_if_due(&faces, frame.captured, frame.timestamp_ms);
    }
    let stats = state.stats;
    info!(
        frames = stats.frames,
        mood_changes = stats.mood_changes,
        source_errors = stats.source_errors,
        peak_rss_mib = crate::bench::peak_rss_mib().unwrap_or(f64::NAN),
        "vision loop stopped"
    );
    stats
}
