//! `xpressify-device bench --sequences N`: how well the *announced* mood follows a changing
//! face, and what reading it costs, for several ways of reading (every frame or a few times a
//! second; both views, alternating or plain). A model's accuracy on single faces does not
//! say that: the tracker smooths readings over time, so a reading that alternates between a
//! face and its mirror image, or comes 8 times a second instead of 30, may announce the same
//! moods at a fraction of the cost.
//!
//! Each clip is camera-like and 9 seconds long at a simulated 30 frames a second: a FER2013
//! PrivateTest face labelled neutral for 2.5 s, one labelled with an expression for 3.5 s, a
//! neutral one again for 3 s, in the same place (the data set has no sequences of one
//! person, so each segment is a different person of the same size in the same place). The
//! face drifts (±20 px, ±5 % in size), is blurred for 0.3 s in every 2 s as if moving, and
//! beside it stands a larger head turned away ([`PROFILE_FACES`]). Every setup sees the same
//! frames and the same detections, and runs its own reading memory and mood tracker with the
//! default tuning.

use std::time::{Duration, Instant};

use image::{GrayImage, Rgb, RgbImage, imageops};
use serde::Serialize;
use xpressify_protocol::Emotion;

use crate::bench::FRAME_TIME;
use crate::bench::fer2013::Sample;
use crate::vision::analyze::Analyzer;
use crate::vision::classify::{ClassifierConfig, Mirror};
use crate::vision::mood::{MoodTracker, TrackerConfig};
use crate::vision::pipeline::readings;
use crate::vision::pose;
use crate::vision::reading::ReadingMemory;

/// FER2013 PrivateTest faces (indices in file order) that are heads turned to a profile or
/// away, checked by eye: the second face of every clip, and of the tests' photos with a face
/// the mood must not follow.
pub const PROFILE_FACES: [usize; 10] = [2939, 822, 2512, 212, 2861, 2840, 333, 2168, 1170, 917];

/// Frames of the first neutral segment (2.5 s).
const NEUTRAL_FRAMES: usize = 75;
/// Frames of the expression (3.5 s).
const EXPRESSION_FRAMES: usize = 105;
/// Frames of the return to neutral (3 s).
const RETURN_FRAMES: usize = 90;

/// The expressions clips cycle through: every class but neutral, in FER order.
fn expressions() -> Vec<Emotion> {
    Emotion::ALL
        .into_iter()
        .filter(|e| *e != Emotion::Neutral)
        .collect()
}

/// One way of reading the faces of a video.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Setup {
    /// What it stands for.
    pub name: &'static str,
    /// `[classifier] mirror`.
    pub mirror: Mirror,
    /// `[classifier] reads_per_second` (0: every frame).
    pub reads_per_second: f32,
}

/// The setups compared by default: the reading before this benchmark existed (both views of
/// every face in every frame, as the model with flip averaging inside its graph did), and the
/// cheaper ones.
pub const SETUPS: [Setup; 4] = [
    Setup {
        name: "every frame, both views averaged (flip averaging in the graph)",
        mirror: Mirror::Average,
        reads_per_second: 0.0,
    },
    Setup {
        name: "every frame, alternating views",
        mirror: Mirror::Alternate,
        reads_per_second: 0.0,
    },
    Setup {
        name: "8 a second, alternating views (default)",
        mirror: Mirror::Alternate,
        reads_per_second: 8.0,
    },
    Setup {
        name: "8 a second, never mirrored",
        mirror: Mirror::Off,
        reads_per_second: 8.0,
    },
];

/// What one setup announced over all clips.
#[derive(Debug, Clone, Serialize)]
pub struct SetupResult {
    /// The setup.
    pub setup: Setup,
    /// Passes of the emotion model per frame, on average.
    pub passes_per_frame: f64,
    /// Time spent reading faces (crops and the model) per frame, on average, ms.
    pub classify_ms_per_frame: f64,
    /// Share of the frames from the expression's start to the clip's end whose announced
    /// mood is the label of the face in view (the delay of each switch counts against it).
    pub announced_accuracy: f64,
    /// Switches (to the expression, back to neutral) announced before the segment ended.
    pub switches_made: usize,
    /// Mean time from a switch in the clip to its announcement, over the switches made, ms.
    pub switch_delay_ms: f64,
    /// The same over the switches every setup made (comparable between setups), ms.
    pub common_switch_delay_ms: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceReport {
    /// Clips run.
    pub clips: usize,
    /// Frames per clip.
    pub frames_per_clip: usize,
    /// Switches in all clips (two a clip).
    pub switches: usize,
    /// Faces the detector found per frame, on average (the person and, when found, the head
    /// turned away).
    pub faces_per_frame: f64,
    /// Faces found that the pose check turned away, per frame.
    pub unreadable_per_frame: f64,
    /// One entry per setup.
    pub setups: Vec<SetupResult>,
}

/// The faces of one clip: neutral, expression, neutral again, and the head turned away.
struct Clip<'a> {
    segments: [(&'a Sample, usize); 3],
    profile: &'a Sample,
}

impl Clip<'_> {
    fn frames(&self) -> usize {
        self.segments.iter().map(|(_, n)| n).sum()
    }

    /// Frame `i`'s face and the label of the segment it belongs to.
    fn at(&self, i: usize) -> (&Sample, Emotion) {
        let mut start = 0;
        for (sample, n) in self.segments {
            if i < start + n {
                return (sample, sample.emotion);
            }
            start += n;
        }
        let last = self.segments[2].0;
        (last, last.emotion)
    }

    /// The frame indices where the label changes.
    fn switches(&self) -> [usize; 2] {
        [self.segments[0].1, self.segments[0].1 + self.segments[1].1]
    }
}

/// `count` clips from PrivateTest `samples`: the k-th clip shows the k-th expression of
/// [`expressions`] in turn, each face taken at a stride through its class so that clips do
/// not repeat.
fn clips(samples: &[Sample], count: usize) -> anyhow::Result<Vec<Clip<'_>>> {
    let of = |e: Emotion| -> Vec<&Sample> { samples.iter().filter(|s| s.emotion == e).collect() };
    let neutral = of(Emotion::Neutral);
    let expressions = expressions();
    let by_class: Vec<Vec<&Sample>> = expressions.iter().map(|e| of(*e)).collect();
    let profiles: Vec<&Sample> = PROFILE_FACES
        .iter()
        .filter_map(|&i| samples.get(i))
        .collect();
    if neutral.len() < 2 || by_class.iter().any(Vec::is_empty) || profiles.is_empty() {
        anyhow::bail!(
            "the faces given are not FER2013 PrivateTest: a class or a profile is missing"
        );
    }
    // Strides coprime with the class sizes visit many different faces.
    Ok((0..count)
        .map(|k| {
            let class = &by_class[k % expressions.len()];
            let round = k / expressions.len();
            Clip {
                segments: [
                    (neutral[(k * 97) % neutral.len()], NEUTRAL_FRAMES),
                    (class[(round * 31 + k) % class.len()], EXPRESSION_FRAMES),
                    (neutral[(k * 97 + 53) % neutral.len()], RETURN_FRAMES),
                ],
                profile: profiles[k % profiles.len()],
            }
        })
        .collect())
}

/// Frame `i` of `clip`: 640×480, the head turned away on the left (220 px), the person
/// drifting on the right (about 170 px), blurred for 0.3 s of every 2 s.
fn frame(clip: &Clip, i: usize) -> RgbImage {
    let t = i as f32 * FRAME_TIME.as_secs_f32();
    let wave = |period: f32| (std::f32::consts::TAU * t / period).sin();
    let mut img = RgbImage::from_pixel(640, 480, Rgb([70, 90, 80]));
    paste(
        &mut img,
        &clip.profile.face,
        220,
        (40, 120 + (6.0 * wave(7.0)) as i64),
        0.0,
    );
    let (sample, _) = clip.at(i);
    let side = (170.0 * (1.0 + 0.05 * wave(5.0))) as u32;
    let at = (
        (400.0 + 20.0 * wave(4.0)) as i64,
        (150.0 + 10.0 * wave(3.0)) as i64,
    );
    let blur = if t % 2.0 >= 1.2 && t % 2.0 < 1.5 {
        1.5
    } else {
        0.0
    };
    paste(&mut img, &sample.face, side, at, blur);
    img
}

/// Pastes a 48×48 grey face scaled to `side` (and blurred by `sigma` when above 0).
fn paste(img: &mut RgbImage, face: &[u8], side: u32, at: (i64, i64), sigma: f32) {
    let Some(grey) = GrayImage::from_raw(48, 48, face.to_vec()) else {
        return;
    };
    let mut big = imageops::resize(&grey, side, side, imageops::FilterType::CatmullRom);
    if sigma > 0.0 {
        big = imageops::blur(&big, sigma);
    }
    let coloured = RgbImage::from_fn(side, side, |x, y| Rgb([big.get_pixel(x, y).0[0]; 3]));
    imageops::replace(img, &coloured, at.0, at.1);
}

/// What one setup keeps from clip to clip.
struct Run {
    setup: Setup,
    passes: usize,
    classify: Duration,
    hits: usize,
    judged: usize,
    /// Per switch (clip by clip): the delay to its announcement, if made.
    delays: Vec<Option<Duration>>,
}

/// Runs `count` clips built from PrivateTest `samples` through every setup of `setups`.
/// `progress` is called after each clip (the number done).
pub fn run(
    analyzer: &Analyzer,
    samples: &[Sample],
    count: usize,
    setups: &[Setup],
    mut progress: impl FnMut(usize),
) -> anyhow::Result<SequenceReport> {
    let clips = clips(samples, count)?;
    let mut runs: Vec<Run> = setups
        .iter()
        .map(|&setup| Run {
            setup,
            passes: 0,
            classify: Duration::ZERO,
            hits: 0,
            judged: 0,
            delays: vec![],
        })
        .collect();
    let (mut frames, mut faces_seen, mut unreadable) = (0usize, 0usize, 0usize);
    for (done, clip) in clips.iter().enumerate() {
        let mut follower = analyzer.follower();
        let mut state: Vec<(ReadingMemory, MoodTracker, [Option<Duration>; 2])> = runs
            .iter()
            .map(|r| {
                let config = ClassifierConfig {
                    mirror: r.setup.mirror,
                    reads_per_second: r.setup.reads_per_second,
                    ..ClassifierConfig::default()
                };
                (
                    ReadingMemory::new(&config),
                    MoodTracker::new(TrackerConfig::default()),
                    [None; 2],
                )
            })
            .collect();
        let switches = clip.switches();
        for i in 0..clip.frames() {
            let img = frame(clip, i);
            let (found, _) = follower.find(analyzer.detector(), &img)?;
            let now = FRAME_TIME * (i as u32 + 1);
            let (_, label) = clip.at(i);
            frames += 1;
            faces_seen += found.len();
            unreadable += found.iter().filter(|f| !pose::readable(f)).count();
            for (run, (memory, tracker, announced)) in runs.iter_mut().zip(&mut state) {
                let started = Instant::now();
                let (faces, passes) = analyzer.read_faces(&img, found.clone(), memory, now)?;
                run.classify += started.elapsed();
                run.passes += passes;
                tracker.update_in_view(now, faces.len() as u32, &readings(&faces));
                if i >= switches[0] {
                    run.judged += 1;
                    let right = tracker.mood().emotion == Some(label);
                    run.hits += usize::from(right);
                    let segment = usize::from(i >= switches[1]);
                    if right && announced[segment].is_none() {
                        announced[segment] = Some(FRAME_TIME * (i - switches[segment]) as u32);
                    }
                }
            }
        }
        for (run, (_, _, announced)) in runs.iter_mut().zip(&state) {
            run.delays.extend(announced);
        }
        progress(done + 1);
    }
    let switches = clips.len() * 2;
    let common: Vec<bool> = (0..switches)
        .map(|s| runs.iter().all(|r| r.delays[s].is_some()))
        .collect();
    let mean_ms = |delays: &mut dyn Iterator<Item = Duration>| {
        let (sum, n) = delays.fold((0.0, 0usize), |(s, n), d| (s + d.as_secs_f64(), n + 1));
        if n == 0 { 0.0 } else { sum * 1e3 / n as f64 }
    };
    let per_frame = |x: f64| x / frames.max(1) as f64;
    Ok(SequenceReport {
        clips: clips.len(),
        frames_per_clip: NEUTRAL_FRAMES + EXPRESSION_FRAMES + RETURN_FRAMES,
        switches,
        faces_per_frame: per_frame(faces_seen as f64),
        unreadable_per_frame: per_frame(unreadable as f64),
        setups: runs
            .iter()
            .map(|r| SetupResult {
                setup: r.setup,
                passes_per_frame: per_frame(r.passes as f64),
                classify_ms_per_frame: per_frame(r.classify.as_secs_f64() * 1e3),
                announced_accuracy: r.hits as f64 / r.judged.max(1) as f64,
                switches_made: r.delays.iter().flatten().count(),
                switch_delay_ms: mean_ms(&mut r.delays.iter().flatten().copied()),
                common_switch_delay_ms: mean_ms(
                    &mut r
                        .delays
                        .iter()
                        .zip(&common)
                        .filter(|(_, c)| **c)
                        .filter_map(|(d, _)| *d),
                ),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(emotion: Emotion, shade: u8) -> Sample {
        Sample {
            emotion,
            face: [shade; 48 * 48],
        }
    }

    #[test]
    fn a_clip_switches_to_the_expression_and_back_at_its_segment_bounds() {
        let (a, b, c, p) = (
            sample(Emotion::Neutral, 10),
            sample(Emotion::Happy, 20),
            sample(Emotion::Neutral, 30),
            sample(Emotion::Sad, 40),
        );
        let clip = Clip {
            segments: [(&a, 3), (&b, 4), (&c, 2)],
            profile: &p,
        };
        assert_eq!(clip.frames(), 9);
        assert_eq!(clip.switches(), [3, 7]);
        let labels: Vec<Emotion> = (0..9).map(|i| clip.at(i).1).collect();
        use Emotion::{Happy, Neutral};
        assert_eq!(
            labels,
            [
                Neutral, Neutral, Neutral, Happy, Happy, Happy, Happy, Neutral, Neutral
            ]
        );
        // The person is drawn on the right, the head turned away on the left.
        let img = frame(&clip, 4);
        assert_eq!(img.dimensions(), (640, 480));
        assert_eq!(img.get_pixel(150, 230).0, [40; 3]);
        assert_eq!(img.get_pixel(480, 230).0, [20; 3]);
    }

    #[test]
    fn clips_cycle_through_the_expressions_without_repeating_faces() {
        let mut samples = vec![];
        for (k, e) in Emotion::ALL.iter().enumerate() {
            for j in 0..30u8 {
                samples.push(sample(*e, (k as u8) * 30 + j));
            }
        }
        // PROFILE_FACES index into PrivateTest; pad so they exist.
        while samples.len() <= PROFILE_FACES.iter().copied().max().unwrap_or(0) {
            samples.push(sample(Emotion::Neutral, 255));
        }
        let made = clips(&samples, 12).expect("clips");
        for (k, clip) in made.iter().enumerate() {
            assert_eq!(clip.segments[0].0.emotion, Emotion::Neutral);
            assert_eq!(clip.segments[1].0.emotion, expressions()[k % 6]);
            assert_eq!(clip.segments[2].0.emotion, Emotion::Neutral);
        }
        assert_ne!(made[0].segments[1].0.face, made[6].segments[1].0.face);
        assert!(clips(&samples[..10], 1).is_err());
    }
}
