//! One still frame → its faces and their emotions: detection, eye-levelled crops, and one
//! batched classification of all crops.

use std::path::PathBuf;

use image::RgbImage;
use serde::{Deserialize, Serialize};
use xpressify_protocol::Emotion;

use crate::classify::{EmotionClassifier, ModelError, softmax};
use crate::face::{DetectorConfig, FaceBox, FaceDetector, FaceFollower, Scan, crop_face};

/// The small shipped model that `fast` selects.
pub const FAST_MODEL: &str = "emotion-fast.onnx";

/// `[classifier]` in the device config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierConfig {
    /// The emotion model, or `auto`: the float model on x86-64 (where tract has no integer
    /// convolution kernels), the int8 model elsewhere (aarch64, armv7); or `fast`: the small
    /// shipped model, about 15× quicker per face and 4 points less accurate, for boxes where
    /// frame rate matters more.
    pub model: String,
    /// Folder of the shipped models, used by `auto` and `fast`.
    pub models_dir: PathBuf,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            model: "auto".into(),
            models_dir: PathBuf::from("models"),
        }
    }
}

impl ClassifierConfig {
    /// The model's name and version from `emotion.json` beside the shipped models (the file
    /// name and "unknown" for a model without one).
    pub fn model_info(&self) -> xpressify_protocol::ModelInfo {
        let path = self.model_path();
        let fallback = xpressify_protocol::ModelInfo {
            name: path
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned()),
            version: "unknown".into(),
        };
        let Ok(text) = std::fs::read_to_string(self.models_dir.join("emotion.json")) else {
            return fallback;
        };
        let meta: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        // The fast model is a different net: it has its own name and version.
        let fast = &meta["fast"];
        let meta = match fast["file"].as_str() {
            Some(f) if path.ends_with(f) => fast,
            _ => &meta,
        };
        let shipped = [meta["file"].as_str(), meta["float_file"].as_str()]
            .iter()
            .flatten()
            .any(|f| path.ends_with(f));
        match (shipped, meta["name"].as_str(), meta["version"].as_str()) {
            (true, Some(name), Some(version)) => xpressify_protocol::ModelInfo {
                name: name.to_string(),
                version: version.to_string(),
            },
            _ => fallback,
        }
    }

    /// The model file this configuration selects.
    pub fn model_path(&self) -> PathBuf {
        match self.model.as_str() {
            "auto" if cfg!(target_arch = "x86_64") => self.models_dir.join("emotion-float.onnx"),
            "auto" => self.models_dir.join("emotion.onnx"),
            "fast" => self.models_dir.join(FAST_MODEL),
            path => PathBuf::from(path),
        }
    }
}

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
        let e = crate::classify::argmax(&self.probabilities);
        (e, self.probabilities[e.index()])
    }
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
            classifier: EmotionClassifier::load(&classifier.model_path())?,
        })
    }

    /// Every face of a still `frame` (most confident detection first) with its emotion.
    pub fn analyse(&self, frame: &RgbImage) -> Result<Vec<AnalysedFace>, ModelError> {
        let faces = self.detector.detect(frame)?;
        self.classify_faces(frame, faces)
    }

    /// The same for the next frame of a video: `follower` remembers where the faces were,
    /// so most frames are searched only around them.
    pub fn analyse_next(
        &self,
        frame: &RgbImage,
        follower: &mut FaceFollower,
    ) -> Result<(Vec<AnalysedFace>, Scan), ModelError> {
        let (faces, scan) = follower.find(&self.detector, frame)?;
        Ok((self.classify_faces(frame, faces)?, scan))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(model: &str) -> ClassifierConfig {
        ClassifierConfig {
            model: model.into(),
            models_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models")),
        }
    }

    #[test]
    fn fast_selects_the_small_model_under_its_own_name() {
        let fast = shipped("fast");
        assert!(fast.model_path().ends_with(FAST_MODEL));
        assert!(fast.model_path().exists());
        let auto = shipped("auto").model_info();
        let info = fast.model_info();
        assert_eq!(info.name, "xpressify-edge-late");
        assert_ne!(info.name, auto.name);
        assert_eq!(auto.name, "xpressify-edge");
    }
}
