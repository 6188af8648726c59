//! One frame → its faces and their emotions: detection, the readable faces (`pose`), their
//! eye-levelled crops, and their classification — every readable face of a still image, and
//! in a video only the faces due a reading (`reading`).

use std::time::{Duration, Instant};

use image::RgbImage;
use xpressify_protocol::Emotion;

use crate::vision::classify::{ClassifierConfig, EmotionClassifier, ModelError, View, softmax};
use crate::vision::crop::crop_face;
use crate::vision::detect::{DetectorConfig, FaceBox, FaceDetector};
use crate::vision::follow::{FaceFollower, Scan};
use crate::vision::pose;
use crate::vision::reading::{Plan, ReadingMemory};

/// A face found in a frame, with the classifier's verdict when it could be read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysedFace {
    /// Where it is.
    pub face: FaceBox,
    /// Class probabilities, FER order; `None` for a face turned away (a profile, the back of
    /// a head), which is not read and never decides the mood.
    pub probabilities: Option<[f32; Emotion::COUNT]>,
}

impl AnalysedFace {
    /// The most likely emotion and its probability, for a face that was read.
    pub fn top(&self) -> Option<(Emotion, f32)> {
        self.probabilities.map(|p| {
            let e = crate::vision::classify::argmax(&p);
            (e, p[e.index()])
        })
    }

    /// Whether the face could be read.
    pub fn readable(&self) -> bool {
        self.probabilities.is_some()
    }
}

/// The face the mood follows: the largest readable one (usually the nearest listener facing
/// the box); `None` when no face can be read.
pub fn main_face(faces: &[AnalysedFace]) -> Option<usize> {
    faces
        .iter()
        .enumerate()
        .filter(|(_, f)| f.readable())
        .max_by(|(_, a), (_, b)| a.face.area().total_cmp(&b.face.area()))
        .map(|(i, _)| i)
}

/// One video frame's faces, how they were found and what each stage cost.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The faces with their emotions.
    pub faces: Vec<AnalysedFace>,
    /// Whether the whole frame or only the regions around known faces were searched.
    pub scan: Scan,
    /// Time spent finding faces.
    pub detect: Duration,
    /// Time spent reading faces; `None` when no face was due a reading.
    pub classify: Option<Duration>,
    /// Passes of the emotion model this frame (a face read both ways counts two).
    pub passes: usize,
}

/// The detector and the classifier, loaded once.
pub struct Analyzer {
    detector: FaceDetector,
    classifier: EmotionClassifier,
    config: ClassifierConfig,
}

impl Analyzer {
    /// Loads both models; errors name the file.
    pub fn load(
        detector: &DetectorConfig,
        classifier: &ClassifierConfig,
    ) -> Result<Self, ModelError> {
        Ok(Analyzer {
            detector: FaceDetector::load(detector)?,
            classifier: EmotionClassifier::load_file(&classifier.model_file())?,
            config: classifier.clone(),
        })
    }

    /// Every face of a still `frame` (most confident detection first), each readable one with
    /// its emotion (read both ways and averaged unless `mirror = "off"`).
    pub fn analyse(&self, frame: &RgbImage) -> Result<Vec<AnalysedFace>, ModelError> {
        let faces = self.detector.detect(frame)?;
        let view = match self.config.mirror {
            crate::vision::classify::Mirror::Off => View::Plain,
            _ => View::Both,
        };
        faces
            .into_iter()
            .map(|face| {
                let probabilities = if pose::readable(&face) {
                    let logits = self
                        .classifier
                        .view_logits(&crop_face(frame, &face), view)?;
                    Some(softmax(&logits))
                } else {
                    None
                };
                Ok(AnalysedFace {
                    face,
                    probabilities,
                })
            })
            .collect()
    }

    /// The same for the next frame of a video, taken at `now`: `follower` remembers where the
    /// faces were, so most frames are searched only around them, and `memory` what they read,
    /// so a face is read only as often as the configuration asks. Each stage is timed (for
    /// diagnostics).
    pub fn analyse_next(
        &self,
        frame: &RgbImage,
        follower: &mut FaceFollower,
        memory: &mut ReadingMemory,
        now: Duration,
    ) -> Result<Analysis, ModelError> {
        let started = Instant::now();
        let (faces, scan) = follower.find(&self.detector, frame)?;
        let detect = started.elapsed();
        let classify_started = Instant::now();
        let (faces, passes) = self.read_faces(frame, faces, memory, now)?;
        Ok(Analysis {
            faces,
            scan,
            detect,
            classify: (passes > 0).then(|| classify_started.elapsed()),
            passes,
        })
    }

    /// Reads the readable faces of a video frame that are due a reading, keeps the last
    /// reading of the others; returns the faces and the model passes it took.
    pub fn read_faces(
        &self,
        frame: &RgbImage,
        faces: Vec<FaceBox>,
        memory: &mut ReadingMemory,
        now: Duration,
    ) -> Result<(Vec<AnalysedFace>, usize), ModelError> {
        let is_readable: Vec<bool> = faces.iter().map(pose::readable).collect();
        let readable: Vec<FaceBox> = faces
            .iter()
            .zip(&is_readable)
            .filter(|(_, r)| **r)
            .map(|(f, _)| *f)
            .collect();
        let plans = memory.plan(&readable, now);
        let mut passes = 0;
        let mut read = Vec::with_capacity(readable.len());
        for (face, plan) in readable.iter().zip(&plans) {
            read.push(match plan {
                Plan::Keep(p) => *p,
                Plan::Read(view) => {
                    passes += if *view == View::Both { 2 } else { 1 };
                    softmax(
                        &self
                            .classifier
                            .view_logits(&crop_face(frame, face), *view)?,
                    )
                }
            });
        }
        memory.remember(&readable, &plans, &read, now);
        let mut read = read.into_iter();
        let faces = faces
            .into_iter()
            .zip(is_readable)
            .map(|(face, readable)| AnalysedFace {
                face,
                probabilities: if readable { read.next() } else { None },
            })
            .collect();
        Ok((faces, passes))
    }

    /// A follower set up as the detector's configuration says.
    pub fn follower(&self) -> FaceFollower {
        FaceFollower::new(self.detector.config())
    }

    /// A reading memory set up as the classifier's configuration says.
    pub fn reading_memory(&self) -> ReadingMemory {
        ReadingMemory::new(&self.config)
    }

    /// The detector alone (benchmarks time the stages separately).
    pub fn detector(&self) -> &FaceDetector {
        &self.detector
    }

    /// The classifier alone.
    pub fn classifier(&self) -> &EmotionClassifier {
        &self.classifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysed(x: f32, side: f32, readable: bool) -> AnalysedFace {
        AnalysedFace {
            face: FaceBox {
                x,
                y: 0.0,
                w: side,
                h: side,
                score: 0.9,
                landmarks: [[0.0; 2]; 5],
            },
            probabilities: readable.then_some([1.0 / 7.0; 7]),
        }
    }

    #[test]
    fn the_main_face_is_the_largest_readable_one() {
        let faces = [
            analysed(0.0, 200.0, false),
            analysed(300.0, 80.0, true),
            analysed(400.0, 120.0, true),
        ];
        assert_eq!(main_face(&faces), Some(2));
        assert_eq!(main_face(&faces[..1]), None);
        assert_eq!(main_face(&[]), None);
    }
}
