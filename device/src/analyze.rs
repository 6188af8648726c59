//! One still frame → its faces and their emotions: detection, eye-levelled crops, and one
//! batched classification of all crops.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::{Deserialize, Serialize};
use xpressify_protocol::Emotion;

use crate::classify::{EmotionClassifier, ModelError, softmax};
use crate::face::{DetectorConfig, FaceBox, FaceDetector, FaceFollower, Scan, crop_face};
use crate::models::{BuiltInModel, EMOTION_AUTO, EMOTION_FAST, EMOTION_META, ModelFile};

/// `[classifier]` in the device config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierConfig {
    /// The emotion model, or `auto`: the float model on x86-64 (where tract has no integer
    /// convolution kernels), the int8 model elsewhere (aarch64, armv7); or `fast`: the small
    /// shipped model, about 15× quicker per face and 2 points less accurate, for boxes where
    /// frame rate matters more.
    pub model: String,
    /// Folder to take the `auto` and `fast` models from; unset, the copies built into the
    /// binary are used, so it runs from any folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models_dir: Option<PathBuf>,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            model: "auto".into(),
            models_dir: None,
        }
    }
}

impl ClassifierConfig {
    /// The model's name and version from `emotion.json` beside the shipped models (the file
    /// name and "unknown" for a model without one).
    pub fn model_info(&self) -> xpressify_protocol::ModelInfo {
        let file = self.model_file();
        let file_name = file.file_name().unwrap_or_else(|| "model".into());
        let fallback = xpressify_protocol::ModelInfo {
            name: Path::new(&file_name)
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned()),
            version: "unknown".into(),
        };
        let text = match (&file, &self.models_dir) {
            (ModelFile::BuiltIn(_), _) => Cow::Borrowed(EMOTION_META),
            (ModelFile::Path(_), Some(dir)) => {
                match std::fs::read_to_string(dir.join("emotion.json")) {
                    Ok(text) => Cow::Owned(text),
                    Err(_) => return fallback,
                }
            }
            (ModelFile::Path(_), None) => return fallback,
        };
        let meta: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        // The fast model is a different net: it has its own name and version.
        let fast = &meta["fast"];
        let meta = match fast["file"].as_str() {
            Some(f) if file_name == f => fast,
            _ => &meta,
        };
        let shipped = [meta["file"].as_str(), meta["float_file"].as_str()]
            .iter()
            .flatten()
            .any(|f| file_name == *f);
        match (shipped, meta["name"].as_str(), meta["version"].as_str()) {
            (true, Some(name), Some(version)) => xpressify_protocol::ModelInfo {
                name: name.to_string(),
                version: version.to_string(),
            },
            _ => fallback,
        }
    }

    /// The model this configuration selects: a file, or one built into the binary.
    pub fn model_file(&self) -> ModelFile {
        let shipped = |model: &'static BuiltInModel| match &self.models_dir {
            Some(dir) => ModelFile::Path(dir.join(model.name)),
            None => ModelFile::BuiltIn(model),
        };
        match self.model.as_str() {
            "auto" => shipped(&EMOTION_AUTO),
            "fast" => shipped(&EMOTION_FAST),
            path => ModelFile::Path(PathBuf::from(path)),
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
            classifier: EmotionClassifier::load_file(&classifier.model_file())?,
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
            models_dir: Some(PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../models"
            ))),
        }
    }

    #[test]
    fn fast_selects_the_small_model_under_its_own_name() {
        let fast = shipped("fast");
        let ModelFile::Path(path) = fast.model_file() else {
            panic!("a models_dir gives a path");
        };
        assert!(path.ends_with(EMOTION_FAST.name));
        assert!(path.exists());
        let auto = shipped("auto").model_info();
        let info = fast.model_info();
        assert_eq!(info.name, "xpressify-edge-late");
        assert_ne!(info.name, auto.name);
        assert_eq!(auto.name, "xpressify-edge");
    }

    #[test]
    fn without_a_models_dir_the_built_in_models_carry_their_names() {
        let built_in = |model: &str| ClassifierConfig {
            model: model.into(),
            models_dir: None,
        };
        assert_eq!(
            built_in("auto").model_file(),
            ModelFile::BuiltIn(&EMOTION_AUTO)
        );
        assert_eq!(
            built_in("fast").model_file(),
            ModelFile::BuiltIn(&EMOTION_FAST)
        );
        // The same names and versions as read from the folder.
        for model in ["auto", "fast"] {
            assert_eq!(built_in(model).model_info(), shipped(model).model_info());
        }
        assert_eq!(
            built_in("/x/mine.onnx").model_file(),
            ModelFile::Path(PathBuf::from("/x/mine.onnx"))
        );
    }
}
