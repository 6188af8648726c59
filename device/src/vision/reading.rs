//! When a face in a video is read, and which view: a mood is a slow thing (the tracker smooths
//! it over about a second), so a followed face is read at most `reads_per_second` times a
//! second while detection follows it at the camera's rate; between readings its last reading
//! stands. Under `mirror = "alternate"` consecutive readings of one face alternate between
//! the face and its mirror image, so the smoothing averages both views at the cost of one.
//!
//! A face is the same face from frame to frame when its box overlaps the last one's enough
//! ([`SAME_FACE_IOU`]); a face that appears, or jumps, is read at once.

use std::time::Duration;

use xpressify_protocol::Emotion;

use super::classify::{ClassifierConfig, Mirror, View};
use super::detect::FaceBox;

/// Boxes of consecutive frames overlapping at least this much (intersection over union) are
/// one face. At 30 frames a second a face moving its own width in a second still overlaps
/// its last box by 0.93. Someone else stepping into the very same place keeps the last
/// reading for at most one interval.
pub const SAME_FACE_IOU: f32 = 0.3;

/// A face read before: where it was, what it read, when, and which view comes next.
#[derive(Debug, Clone, Copy)]
struct Remembered {
    face: FaceBox,
    probabilities: [f32; Emotion::COUNT],
    read_at: Duration,
    next: View,
}

/// What to do with one readable face of this frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plan {
    /// Read it in this view.
    Read(View),
    /// Keep the reading of the same face from an earlier frame.
    Keep([f32; Emotion::COUNT]),
}

/// The faces of a video read so far (one per camera; reset when the camera closes).
#[derive(Debug, Clone)]
pub struct ReadingMemory {
    interval: Duration,
    mirror: Mirror,
    faces: Vec<Remembered>,
}

impl ReadingMemory {
    /// Nothing read yet, with the rate and mirroring of `config`.
    pub fn new(config: &ClassifierConfig) -> Self {
        ReadingMemory {
            interval: config.read_interval(),
            mirror: config.mirror,
            faces: Vec::new(),
        }
    }

    /// The view a face read for the first time (or a still image) gets.
    fn first_view(&self, still: bool) -> View {
        match self.mirror {
            Mirror::Alternate if still => View::Both,
            Mirror::Alternate | Mirror::Off => View::Plain,
            Mirror::Average => View::Both,
        }
    }

    /// What to do with each of this frame's readable `faces`, taken at `now`.
    pub fn plan(&self, faces: &[FaceBox], now: Duration) -> Vec<Plan> {
        let matches = self.match_faces(faces);
        faces
            .iter()
            .zip(matches)
            .map(|(_, m)| match m.map(|i| &self.faces[i]) {
                Some(r) if now.saturating_sub(r.read_at) < self.interval => {
                    Plan::Keep(r.probabilities)
                }
                Some(r) => Plan::Read(r.next),
                None => Plan::Read(self.first_view(false)),
            })
            .collect()
    }

    /// Remembers this frame's faces and their probabilities, read or kept as `plans` said;
    /// faces no longer in view are forgotten.
    pub fn remember(
        &mut self,
        faces: &[FaceBox],
        plans: &[Plan],
        probabilities: &[[f32; Emotion::COUNT]],
        now: Duration,
    ) {
        let matches = self.match_faces(faces);
        let next = |view: View, mirror: Mirror| match (mirror, view) {
            (Mirror::Alternate, View::Plain) => View::Mirrored,
            (Mirror::Alternate, _) => View::Plain,
            (Mirror::Average, _) => View::Both,
            (Mirror::Off, _) => View::Plain,
        };
        let faces = faces
            .iter()
            .zip(plans)
            .zip(probabilities)
            .zip(matches)
            .map(|(((face, plan), p), m)| {
                let earlier = m.map(|i| self.faces[i]);
                match (plan, earlier) {
                    (Plan::Keep(_), Some(r)) => Remembered { face: *face, ..r },
                    // A kept reading of a face not remembered cannot come from `plan`; it is
                    // taken as a reading of the plain view.
                    (Plan::Read(_), _) | (Plan::Keep(_), None) => Remembered {
                        face: *face,
                        probabilities: *p,
                        read_at: now,
                        next: next(
                            if let Plan::Read(view) = plan {
                                *view
                            } else {
                                View::Plain
                            },
                            self.mirror,
                        ),
                    },
                }
            })
            .collect();
        self.faces = faces;
    }

    /// For each face, the index of the remembered face it continues, if any: pairs are taken
    /// by falling overlap, each remembered face at most once.
    fn match_faces(&self, faces: &[FaceBox]) -> Vec<Option<usize>> {
        let mut pairs: Vec<(f32, usize, usize)> = faces
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                self.faces
                    .iter()
                    .enumerate()
                    .map(move |(j, r)| (f.iou(&r.face), i, j))
            })
            .filter(|(iou, _, _)| *iou >= SAME_FACE_IOU)
            .collect();
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut matched = vec![None; faces.len()];
        let mut taken = vec![false; self.faces.len()];
        for (_, i, j) in pairs {
            if matched[i].is_none() && !taken[j] {
                matched[i] = Some(j);
                taken[j] = true;
            }
        }
        matched
    }

    /// Forgets every face (the camera was closed).
    pub fn reset(&mut self) {
        self.faces.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::detect::tests::face;

    fn config(rate: f32, mirror: Mirror) -> ClassifierConfig {
        ClassifierConfig {
            reads_per_second: rate,
            mirror,
            ..ClassifierConfig::default()
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Feeds `frames` frames of one still face at 30 fps; the views of the frames it was read.
    fn views(memory: &mut ReadingMemory, frames: u64) -> Vec<(u64, View)> {
        let faces = [face(100.0, 0.9)];
        let mut read = vec![];
        for k in 0..frames {
            let now = ms(k * 1000 / 30);
            let plans = memory.plan(&faces, now);
            let p = match plans[0] {
                Plan::Read(view) => {
                    read.push((k, view));
                    [k as f32; 7]
                }
                Plan::Keep(p) => p,
            };
            memory.remember(&faces, &plans, &[p], now);
        }
        read
    }

    #[test]
    fn a_followed_face_is_read_at_the_rate_alternating_views() {
        let mut memory = ReadingMemory::new(&config(8.0, Mirror::Alternate));
        let read = views(&mut memory, 30);
        // 30 frames at 30 fps, a reading every 125 ms: frames 0, 4, 8, … (133 ms apart).
        assert_eq!(read.len(), 8, "{read:?}");
        assert!(read.iter().all(|(k, _)| k % 4 == 0), "{read:?}");
        let views: Vec<View> = read.iter().map(|(_, v)| *v).collect();
        assert_eq!(
            views[..4],
            [View::Plain, View::Mirrored, View::Plain, View::Mirrored]
        );
    }

    #[test]
    fn a_rate_of_zero_reads_every_frame_and_average_reads_both_views() {
        let mut every = ReadingMemory::new(&config(0.0, Mirror::Alternate));
        assert_eq!(views(&mut every, 10).len(), 10);
        let mut both = ReadingMemory::new(&config(0.0, Mirror::Average));
        assert!(views(&mut both, 5).iter().all(|(_, v)| *v == View::Both));
        let mut off = ReadingMemory::new(&config(10.0, Mirror::Off));
        assert!(views(&mut off, 30).iter().all(|(_, v)| *v == View::Plain));
    }

    #[test]
    fn a_new_face_is_read_at_once_and_a_kept_reading_is_its_own() {
        let mut memory = ReadingMemory::new(&config(8.0, Mirror::Alternate));
        let a = face(100.0, 0.9);
        let plans = memory.plan(&[a], ms(0));
        memory.remember(&[a], &plans, &[[0.5; 7]], ms(0));
        // 33 ms later the face is kept; a newcomer far away is read at once.
        let b = face(400.0, 0.9);
        let plans = memory.plan(&[b, a], ms(33));
        assert_eq!(plans, [Plan::Read(View::Plain), Plan::Keep([0.5; 7])]);
        memory.remember(&[b, a], &plans, &[[0.1; 7], [0.5; 7]], ms(33));
        let plans = memory.plan(&[a, b], ms(66));
        assert_eq!(plans, [Plan::Keep([0.5; 7]), Plan::Keep([0.1; 7])]);
        // Gone, then back: read again.
        memory.remember(&[], &[], &[], ms(99));
        assert_eq!(memory.plan(&[a], ms(132)), [Plan::Read(View::Plain)]);
    }
}
