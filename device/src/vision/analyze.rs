//! One still frame → its faces and their emotions: detection, eye-levelled crops, and one
//! batched classification of all crops.

use std::time::{Duration, Instant};

use image::RgbImage;
use xpressify_protocol::Emotion;

use crate::vision::classify::{ClassifierConfig, EmotionClassifier, ModelError, softmax};
use crate::vision::crop::crop_face;
use crate::vision::detect::{DetectorConfig, FaceBox, FaceDetector};
use crate::vision::follow::{FaceFollower, Scan};

/// A face found in a frame, with the classifier's verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysedFace {
    /// Where it is.
    pub face: FaceBox,
    /// Class probabilities, FER order.
    pub probabilities: [f32; Emotion::COUNT],
}

impl AnalysedFace {
    /// The most likely emotion and its probability.
    pub fn top(&self) -> (Emotion, f32) {
        let e = crate::vision::classify::argmax(&self.probabilities);
        (e, self.probabilities[e.index()])
    }
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
    /// Time spent classifying them; `None` when there was no face to classify.
    pub classify: Option<Duration>,
}

/// The detector and the classifier, loaded once.
pub struct Analyzer {
    detector: FaceDetector,
    classifier: EmotionClassifier,
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
        })
    }

    /// Every face of a still `frame` (most confident detection first) with its emotion.
    pub fn analyse(&self, frame: &RgbImage) -> Result<Vec<AnalysedFace>, ModelError> {
        let faces = self.detector.detect(frame)?;
        self.classify_faces(frame, faces)
    }

    /// The same for the next frame of a video: `follower` remembers where the faces were,
    /// so most frames are searched only around them. Each stage is timed (for diagnostics).
    pub fn analyse_next(
        &self,
        frame: &RgbImage,
        follower: &mut FaceFollower,
    ) -> Result<Analysis, ModelError> {
        let started = Instant::now();
        let (faces, scan) = follower.find(&self.detector, frame)?;
        let detect = started.elapsed();
        let classify_started = Instant::now();
        let any = !faces.is_empty();
        let faces = self.classify_faces(frame, faces)?;
        Ok(Analysis {
            faces,
            scan,
            detect,
            classify: any.then(|| classify_started.elapsed()),
        })
    }

    /// A follower set up as the detector's configuration says.
    pub fn follower(&self) -> FaceFollower {
        FaceFollower::new(self.detector.config())
    }

    fn classify_faces(
        &self,
        frame: &RgbImage,
        faces: Vec<FaceBox>,
    ) -> Result<Vec<AnalysedFace>, ModelError> {
        let crops: Vec<_> = faces.iter().map(|f| crop_face(frame, f)).collect();
        let logits = self.classifier.logits(&crops)?;
        Ok(faces
            .into_iter()
            .zip(logits)
            .map(|(face, l)| AnalysedFace {
                face,
                probabilities: softmax(&l),
            })
            .collect())
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
