//! From noisy per-frame guesses to a stable mood: exponential smoothing over time, hysteresis
//! (a new mood must lead by a margin for a dwell time), and a "no face" state after a timeout.
//!
//! Pure logic on caller-supplied timestamps, so it is tested on synthetic sequences and behaves
//! the same at 5 or 60 frames per second.

use std::time::Duration;
use xpressify_protocol::config::ConfigError;

use serde::{Deserialize, Serialize};
use xpressify_protocol::Emotion;

/// Which face the mood follows when several are in view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FacePolicy {
    /// The largest face that can be read (usually the nearest listener facing the box).
    #[default]
    Largest,
    /// Each readable face votes for its most likely class; the frame's reading is the vote
    /// share.
    Majority,
}

/// Tuning of the tracker; the defaults suit a listener in front of a speaker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Time constant of the exponential moving average, in seconds: a reading's weight
    /// falls to 1/e after this long.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f32")]
    pub smoothing_s: f32,
    /// How far (in probability) a new mood must lead the announced one.
    pub margin: f32,
    /// How long, in seconds, the new mood must keep that lead before it is announced.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f32")]
    pub dwell_s: f32,
    /// Seconds without a face before the mood becomes "no face".
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f32")]
    pub no_face_timeout_s: f32,
    /// Several faces: follow the largest, or the majority.
    pub policy: FacePolicy,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            smoothing_s: 1.0,
            margin: 0.1,
            dwell_s: 1.5,
            no_face_timeout_s: 5.0,
            policy: FacePolicy::Largest,
        }
    }
}

impl TrackerConfig {
    /// Checks ranges; the error names the key under `[mood]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |key, v: f32| {
            if v.is_finite() && v > 0.0 && v < 3600.0 {
                Ok(())
            } else {
                Err(ConfigError::invalid(
                    key,
                    format!("{v} must be a number of seconds above 0 and below 3600"),
                ))
            }
        };
        positive("mood.smoothing_s", self.smoothing_s)?;
        positive("mood.no_face_timeout_s", self.no_face_timeout_s)?;
        if !(self.dwell_s.is_finite() && (0.0..3600.0).contains(&self.dwell_s)) {
            return Err(ConfigError::invalid(
                "mood.dwell_s",
                format!("{} must be 0 to 3600 seconds", self.dwell_s),
            ));
        }
        if !(self.margin.is_finite() && (0.0..1.0).contains(&self.margin)) {
            return Err(ConfigError::invalid(
                "mood.margin",
                format!("{} must be in [0, 1)", self.margin),
            ));
        }
        Ok(())
    }
}

/// One classified face of a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceReading {
    /// Area of the face box in pixels (for the `largest` policy).
    pub area: f32,
    /// The classifier's probabilities, FER order.
    pub probabilities: [f32; Emotion::COUNT],
}

/// The announced mood.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mood {
    /// `None` while no face is seen.
    pub emotion: Option<Emotion>,
    /// Smoothed probability of `emotion` (0 with no face).
    pub confidence: f32,
    /// Smoothed probabilities (all 0 with no face).
    pub probabilities: [f32; Emotion::COUNT],
    /// Faces in the latest frame.
    pub faces: u32,
    /// When this mood was announced (caller's clock).
    pub since: Duration,
}

/// Turns per-frame readings into a stable [`Mood`].
#[derive(Debug, Clone)]
pub struct MoodTracker {
    config: TrackerConfig,
    smoothed: Option<[f32; Emotion::COUNT]>,
    last_update: Option<Duration>,
    last_face: Option<Duration>,
    challenger: Option<(Emotion, Duration)>,
    mood: Mood,
}

impl MoodTracker {
    /// A tracker in the "no face" state.
    pub fn new(config: TrackerConfig) -> Self {
        MoodTracker {
            config,
            smoothed: None,
            last_update: None,
            last_face: None,
            challenger: None,
            mood: Mood {
                emotion: None,
                confidence: 0.0,
                probabilities: [0.0; Emotion::COUNT],
                faces: 0,
                since: Duration::ZERO,
            },
        }
    }

    /// The announced mood (with the latest smoothed probabilities and face count).
    pub fn mood(&self) -> &Mood {
        &self.mood
    }

    /// Forgets everything (the camera was closed): back to "no face", as at start.
    pub fn reset(&mut self) {
        *self = MoodTracker::new(self.config);
    }

    /// Feeds one frame taken at `now` (a monotonic clock); returns the new mood when the
    /// announced emotion changes (including to and from "no face").
    pub fn update(&mut self, now: Duration, faces: &[FaceReading]) -> Option<Mood> {
        self.update_in_view(now, faces.len() as u32, faces)
    }

    /// As [`MoodTracker::update`], when more faces are in view (`in_view`, the count the mood
    /// reports) than could be read (`faces`: those turned away are not).
    pub fn update_in_view(
        &mut self,
        now: Duration,
        in_view: u32,
        faces: &[FaceReading],
    ) -> Option<Mood> {
        self.mood.faces = in_view;
        let Some(reading) = self.frame_reading(faces) else {
            return self.no_face(now);
        };
        self.last_face = Some(now);
        let smoothed = match (self.smoothed, self.last_update) {
            (Some(prev), Some(t)) => {
                let dt = now.saturating_sub(t).as_secs_f32();
                let alpha = 1.0 - (-dt / self.config.smoothing_s).exp();
                std::array::from_fn(|i| prev[i] + alpha * (reading[i] - prev[i]))
            }
            _ => reading,
        };
        self.smoothed = Some(smoothed);
        self.last_update = Some(now);
        self.mood.probabilities = smoothed;
        let leader = crate::vision::classify::argmax(&smoothed);
        let held = self.mood.emotion.map_or(0.0, |e| smoothed[e.index()]);
        self.mood.confidence = held;
        if Some(leader) == self.mood.emotion || smoothed[leader.index()] - held < self.config.margin
        {
            self.challenger = None;
            return None;
        }
        let started = match self.challenger {
            Some((e, t)) if e == leader => t,
            _ => {
                self.challenger = Some((leader, now));
                now
            }
        };
        if now.saturating_sub(started).as_secs_f32() + 1e-6 < self.config.dwell_s {
            return None;
        }
        self.challenger = None;
        self.mood.emotion = Some(leader);
        self.mood.confidence = smoothed[leader.index()];
        self.mood.since = now;
        Some(self.mood)
    }

    fn frame_reading(&self, faces: &[FaceReading]) -> Option<[f32; Emotion::COUNT]> {
        match self.config.policy {
            FacePolicy::Largest => faces
                .iter()
                .max_by(|a, b| a.area.total_cmp(&b.area))
                .map(|f| f.probabilities),
            FacePolicy::Majority if faces.is_empty() => None,
            FacePolicy::Majority => {
                let mut votes = [0.0f32; Emotion::COUNT];
                for f in faces {
                    votes[crate::vision::classify::argmax(&f.probabilities).index()] += 1.0;
                }
                Some(votes.map(|v| v / faces.len() as f32))
            }
        }
    }

    fn no_face(&mut self, now: Duration) -> Option<Mood> {
        let since_face = now.saturating_sub(self.last_face.unwrap_or(Duration::ZERO));
        if self.mood.emotion.is_none() || since_face.as_secs_f32() < self.config.no_face_timeout_s {
            return None;
        }
        self.smoothed = None;
        self.last_update = None;
        self.challenger = None;
        self.mood = Mood {
            emotion: None,
            confidence: 0.0,
            probabilities: [0.0; Emotion::COUNT],
            faces: 0,
            since: now,
        };
        Some(self.mood)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peaked(e: Emotion, p: f32) -> [f32; 7] {
        let rest = (1.0 - p) / 6.0;
        std::array::from_fn(|i| if i == e.index() { p } else { rest })
    }

    fn face(e: Emotion, p: f32, area: f32) -> FaceReading {
        FaceReading {
            area,
            probabilities: peaked(e, p),
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Runs frames at 10 fps; returns the (time, emotion) of every announcement.
    fn run(
        tracker: &mut MoodTracker,
        from_ms: u64,
        to_ms: u64,
        frame: impl Fn(u64) -> Vec<FaceReading>,
    ) -> Vec<(u64, Option<Emotion>)> {
        (from_ms..to_ms)
            .step_by(100)
            .filter_map(|t| tracker.update(ms(t), &frame(t)).map(|m| (t, m.emotion)))
            .collect()
    }

    #[test]
    fn announces_a_steady_mood_after_the_dwell_time() {
        let mut t = MoodTracker::new(TrackerConfig::default());
        let changes = run(&mut t, 0, 3000, |_| vec![face(Emotion::Happy, 0.8, 100.0)]);
        assert_eq!(changes, [(1500, Some(Emotion::Happy))]);
    }

    #[test]
    fn flicker_is_suppressed() {
        let mut t = MoodTracker::new(TrackerConfig::default());
        run(&mut t, 0, 3000, |_| {
            vec![face(Emotion::Neutral, 0.7, 100.0)]
        });
        // Every third frame the classifier blurts out "angry" with high confidence.
        let changes = run(&mut t, 3000, 20_000, |t| {
            if (t / 100) % 3 == 0 {
                vec![face(Emotion::Angry, 0.9, 100.0)]
            } else {
                vec![face(Emotion::Neutral, 0.7, 100.0)]
            }
        });
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(t.mood().emotion, Some(Emotion::Neutral));
    }

    #[test]
    fn a_real_change_is_announced_within_smoothing_plus_dwell() {
        let cfg = TrackerConfig::default();
        let mut t = MoodTracker::new(cfg);
        run(&mut t, 0, 5000, |_| vec![face(Emotion::Sad, 0.8, 100.0)]);
        let changes = run(&mut t, 5000, 10_000, |_| {
            vec![face(Emotion::Surprise, 0.8, 100.0)]
        });
        assert_eq!(changes.len(), 1, "{changes:?}");
        let (when, emotion) = changes[0];
        assert_eq!(emotion, Some(Emotion::Surprise));
        let latency = (when - 5000) as f32 / 1000.0;
        assert!(
            latency >= cfg.dwell_s,
            "announced after {latency} s, before the dwell time"
        );
        assert!(
            latency <= cfg.dwell_s + cfg.smoothing_s,
            "announced only after {latency} s"
        );
    }

    #[test]
    fn no_face_after_the_timeout_and_back() {
        let mut t = MoodTracker::new(TrackerConfig::default());
        run(&mut t, 0, 3000, |_| vec![face(Emotion::Happy, 0.8, 100.0)]);
        let gone = run(&mut t, 3000, 10_000, |_| vec![]);
        // The last face was seen at 2.9 s; the timeout is 5 s.
        assert_eq!(gone, [(7900, None)]);
        assert_eq!(t.mood().probabilities, [0.0; 7]);
        let back = run(&mut t, 10_000, 13_000, |_| {
            vec![face(Emotion::Fear, 0.6, 50.0)]
        });
        assert_eq!(back, [(11_500, Some(Emotion::Fear))]);
    }

    #[test]
    fn a_short_absence_changes_nothing() {
        let mut t = MoodTracker::new(TrackerConfig::default());
        run(&mut t, 0, 3000, |_| vec![face(Emotion::Happy, 0.8, 100.0)]);
        assert!(run(&mut t, 3000, 5000, |_| vec![]).is_empty());
        assert!(
            run(&mut t, 5000, 8000, |_| vec![face(
                Emotion::Happy,
                0.8,
                100.0
            )])
            .is_empty()
        );
    }

    #[test]
    fn policies_choose_between_faces() {
        let frame = |_| {
            vec![
                face(Emotion::Happy, 0.9, 400.0),
                face(Emotion::Sad, 0.6, 100.0),
                face(Emotion::Sad, 0.6, 90.0),
            ]
        };
        let mut largest = MoodTracker::new(TrackerConfig::default());
        assert_eq!(
            run(&mut largest, 0, 3000, frame).last().map(|c| c.1),
            Some(Some(Emotion::Happy))
        );
        let mut majority = MoodTracker::new(TrackerConfig {
            policy: FacePolicy::Majority,
            ..TrackerConfig::default()
        });
        assert_eq!(
            run(&mut majority, 0, 3000, frame).last().map(|c| c.1),
            Some(Some(Emotion::Sad))
        );
    }

    #[test]
    fn same_behaviour_at_another_frame_rate() {
        let mut t = MoodTracker::new(TrackerConfig::default());
        let changes: Vec<_> = (0..300)
            .map(|i| i * 10)
            .filter_map(|t_ms| {
                t.update(ms(t_ms), &[face(Emotion::Happy, 0.8, 1.0)])
                    .map(|_| t_ms)
            })
            .collect();
        assert_eq!(changes, [1500]);
    }

    #[test]
    fn validation_names_keys() {
        let bad = TrackerConfig {
            margin: 1.5,
            ..TrackerConfig::default()
        };
        let err = bad.validate().expect_err("margin out of range");
        assert_eq!(err.key(), Some("mood.margin"), "{err}");
        assert!(TrackerConfig::default().validate().is_ok());
    }
}
