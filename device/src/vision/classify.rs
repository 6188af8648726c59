//! Emotion classification of 48×48 grey faces with the shipped ONNX model, through tract.
//!
//! The model is loaded, checked and optimised once ([`EmotionClassifier::load`]), bound to one
//! face per run: with every shape known when tract optimises it, tract picks fixed kernels and
//! skips per-call shape work. A batch runs face by face; measured, that is quicker per face than
//! a plan with a symbolic batch dimension, even at 8 faces (float 21.3 against 24.7 ms).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tract_onnx::prelude::*;
use xpressify_protocol::Emotion;

use super::models::{BuiltInModel, EMOTION_AUTO, EMOTION_FAST, EMOTION_META, ModelFile};

/// Side of the square face crop the model takes.
pub const FACE_SIDE: usize = 48;
/// Pixels in one face crop.
pub const FACE_PIXELS: usize = FACE_SIDE * FACE_SIDE;

/// One face, 48×48 grey levels, row-major, top-left first (FER2013's layout).
pub type FaceCrop = [u8; FACE_PIXELS];

/// Why a model could not be loaded or run.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The file is missing or unreadable.
    #[error("cannot read model {path}")]
    Read {
        /// The model file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// tract could not parse or optimise it.
    #[error("cannot load model {path}: {message}")]
    Load {
        /// The model file.
        path: PathBuf,
        /// tract's explanation.
        message: String,
    },
    /// It loads, but does not take [N,1,48,48] or give [N,7].
    #[error("model {path} has the wrong shape: {message}")]
    Shape {
        /// The model file.
        path: PathBuf,
        /// Which shape was found.
        message: String,
    },
    /// Inference failed.
    #[error("inference failed: {0}")]
    Run(String),
}

type Plan = std::sync::Arc<TypedSimplePlan>;

/// The emotion model, ready to run.
pub struct EmotionClassifier {
    /// The model bound to input `[1,1,48,48]`.
    plan: Plan,
    path: PathBuf,
}

impl EmotionClassifier {
    /// Loads `path` (an ONNX model with input `[N,1,48,48]` float in [0,1] and output `[N,7]`
    /// logits in FER order), checks those shapes and optimises it.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::load_file(&crate::vision::models::ModelFile::Path(path.to_path_buf()))
    }

    /// As [`EmotionClassifier::load`], from a file or a model built into the binary.
    pub fn load_file(file: &crate::vision::models::ModelFile) -> Result<Self, ModelError> {
        Self::from_bytes(&file.read()?, &file.label())
    }

    /// As [`EmotionClassifier::load`], from bytes already read; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ModelError> {
        let load = |e: TractError| ModelError::Load {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        };
        let shape = |message: String| ModelError::Shape {
            path: path.to_path_buf(),
            message,
        };
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(load)?;
        if model.inputs.len() != 1 || model.outputs.len() != 1 {
            return Err(shape(format!(
                "{} inputs and {} outputs, expected 1 and 1",
                model.inputs.len(),
                model.outputs.len()
            )));
        }
        let batch = model.symbols.sym("N");
        model
            .set_input_fact(
                0,
                f32::fact([batch.to_dim(), 1.into(), FACE_SIDE.into(), FACE_SIDE.into()]).into(),
            )
            .map_err(|e| shape(format!("cannot take [N,1,48,48] float input: {e:#}")))?;
        let typed = model
            .into_typed()
            .map_err(|e| shape(format!("cannot take [N,1,48,48] float input: {e:#}")))?;
        let out = typed
            .output_fact(0)
            .map_err(load)?
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>();
        if out.len() != 2 || out[1] != Emotion::COUNT.to_string() {
            return Err(shape(format!(
                "output is [{}], expected [N,7] logits",
                out.join(",")
            )));
        }
        // Shapes are checked with a symbolic batch (the contract), then bound to one face.
        let one_face = std::collections::HashMap::from([(batch, 1.to_dim())]);
        let plan = typed
            .set_symbols(&one_face)
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(load)?;
        Ok(EmotionClassifier {
            plan,
            path: path.to_path_buf(),
        })
    }

    /// The file the model came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Raw logits for a batch of faces, in FER order; one row per face.
    pub fn logits(&self, faces: &[FaceCrop]) -> Result<Vec<[f32; Emotion::COUNT]>, ModelError> {
        faces.iter().map(|face| self.face_logits(face)).collect()
    }

    /// Raw logits for one face.
    fn face_logits(&self, face: &FaceCrop) -> Result<[f32; Emotion::COUNT], ModelError> {
        let data: Vec<f32> = face.iter().map(|&p| f32::from(p) / 255.0).collect();
        let input = Tensor::from_shape(&[1, 1, FACE_SIDE, FACE_SIDE], &data)
            .map_err(|e| ModelError::Run(format!("{e:#}")))?;
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| ModelError::Run(format!("{e:#}")))?;
        let view = outputs[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| ModelError::Run(format!("{e:#}")))?;
        if view.shape() != [1, Emotion::COUNT] {
            return Err(ModelError::Run(format!(
                "output shape {:?}, expected [1, 7]",
                view.shape()
            )));
        }
        Ok(std::array::from_fn(|i| view[[0, i]]))
    }

    /// Logits of one face read as `view` says: as it comes, mirrored, or the mean of both.
    pub fn view_logits(
        &self,
        face: &FaceCrop,
        view: View,
    ) -> Result<[f32; Emotion::COUNT], ModelError> {
        match view {
            View::Plain => self.face_logits(face),
            View::Mirrored => self.face_logits(&mirrored(face)),
            View::Both => {
                let (a, b) = (self.face_logits(face)?, self.face_logits(&mirrored(face))?);
                Ok(std::array::from_fn(|i| (a[i] + b[i]) * 0.5))
            }
        }
    }

    /// Class probabilities (softmax of the logits) for a batch of faces.
    pub fn classify(&self, faces: &[FaceCrop]) -> Result<Vec<[f32; Emotion::COUNT]>, ModelError> {
        Ok(self.logits(faces)?.iter().map(softmax).collect())
    }
}

/// Which view of a face one reading runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The crop as it comes.
    Plain,
    /// Its mirror image (left and right swapped).
    Mirrored,
    /// Both, their logits averaged (two passes).
    Both,
}

/// The crop with left and right swapped.
pub fn mirrored(face: &FaceCrop) -> FaceCrop {
    std::array::from_fn(|i| {
        let (x, y) = (i % FACE_SIDE, i / FACE_SIDE);
        face[y * FACE_SIDE + FACE_SIDE - 1 - x]
    })
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32; Emotion::COUNT]) -> [f32; Emotion::COUNT] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: [f32; Emotion::COUNT] = std::array::from_fn(|i| (logits[i] - max).exp());
    let sum: f32 = exp.iter().sum();
    exp.map(|e| e / sum)
}

/// Index of the largest value (the predicted class).
pub fn argmax(values: &[f32; Emotion::COUNT]) -> Emotion {
    let mut best = 0;
    for i in 1..Emotion::COUNT {
        if values[i] > values[best] {
            best = i;
        }
    }
    Emotion::ALL[best]
}

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
    /// How often a followed face is read, per second; 0 reads every frame. A mood is smoothed
    /// over about a second, so 8 readings a second announce it as soon as 30 do; detection
    /// still follows the face at the camera's rate.
    pub reads_per_second: f32,
    /// Whether, and how, the face's mirror image is read too (test-time flip averaging).
    pub mirror: Mirror,
}

/// How the mirror image of a face is used: reading a face and its mirror and averaging the two
/// is worth about 0.6 points on FER2013 (71.08 % against 71.72 % for the shipped float
/// model), at twice the cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mirror {
    /// Video: consecutive readings of a followed face alternate between the face and its
    /// mirror image, and the mood's smoothing averages both views at the cost of one pass.
    /// A still image (`classify`) is read both ways and averaged.
    #[default]
    Alternate,
    /// Every reading runs both views and averages them (twice the cost per reading).
    Average,
    /// The face as it comes, never mirrored.
    Off,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            model: "auto".into(),
            models_dir: None,
            reads_per_second: 8.0,
            mirror: Mirror::Alternate,
        }
    }
}

impl ClassifierConfig {
    /// Checks ranges; the error names the key under `[classifier]`.
    pub fn validate(&self) -> Result<(), xpressify_protocol::config::ConfigError> {
        if !(self.reads_per_second.is_finite() && (0.0..=120.0).contains(&self.reads_per_second)) {
            return Err(xpressify_protocol::config::ConfigError::invalid(
                "classifier.reads_per_second",
                format!(
                    "{} must be 0 (every frame) to 120 readings a second",
                    self.reads_per_second
                ),
            ));
        }
        Ok(())
    }

    /// The shortest time between two readings of one face; zero reads every frame.
    pub fn read_interval(&self) -> std::time::Duration {
        if self.reads_per_second > 0.0 {
            std::time::Duration::from_secs_f32(1.0 / self.reads_per_second)
        } else {
            std::time::Duration::ZERO
        }
    }

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
            ..ClassifierConfig::default()
        }
    }

    #[test]
    fn a_reading_rate_out_of_range_is_refused_naming_the_key() {
        for bad in [-1.0, 121.0, f32::NAN, f32::INFINITY] {
            let config = ClassifierConfig {
                reads_per_second: bad,
                ..ClassifierConfig::default()
            };
            let err = config.validate().expect_err("refused");
            assert!(
                err.to_string().contains("classifier.reads_per_second"),
                "{err}"
            );
        }
        let every_frame = ClassifierConfig {
            reads_per_second: 0.0,
            ..ClassifierConfig::default()
        };
        assert!(every_frame.validate().is_ok());
        assert_eq!(every_frame.read_interval(), std::time::Duration::ZERO);
        assert_eq!(
            ClassifierConfig::default().read_interval(),
            std::time::Duration::from_millis(125)
        );
    }

    #[test]
    fn the_mirror_image_swaps_left_and_right() {
        let face: FaceCrop = std::array::from_fn(|i| (i % 251) as u8);
        let m = mirrored(&face);
        assert_eq!(m[0], face[FACE_SIDE - 1]);
        assert_eq!(m[FACE_SIDE + 3], face[2 * FACE_SIDE - 4]);
        assert_eq!(mirrored(&m), face);
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
            ..ClassifierConfig::default()
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
