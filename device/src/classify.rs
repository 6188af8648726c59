//! Emotion classification of 48×48 grey faces with the shipped ONNX model, through tract.
//!
//! The model is loaded, checked and optimised once ([`EmotionClassifier::load`]), bound to one
//! face per run: with every shape known when tract optimises it, tract picks fixed kernels and
//! skips per-call shape work. A batch runs face by face; measured, that is quicker per face than
//! a plan with a symbolic batch dimension, even at 8 faces (float 21.3 against 24.7 ms).

use std::path::{Path, PathBuf};

use thiserror::Error;
use tract_onnx::prelude::*;
use xpressify_protocol::Emotion;

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
        Self::load_file(&crate::models::ModelFile::Path(path.to_path_buf()))
    }

    /// As [`EmotionClassifier::load`], from a file or a model built into the binary.
    pub fn load_file(file: &crate::models::ModelFile) -> Result<Self, ModelError> {
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

    /// Class probabilities (softmax of the logits) for a batch of faces.
    pub fn classify(&self, faces: &[FaceCrop]) -> Result<Vec<[f32; Emotion::COUNT]>, ModelError> {
        Ok(self.logits(faces)?.iter().map(softmax).collect())
    }
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
