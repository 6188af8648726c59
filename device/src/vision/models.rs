//! The shipped models, compiled into the binary: `classify`, `run` and `demo` work from any
//! folder, with no config file and no `models/` beside them. A path in the configuration
//! still wins, and a configured file that is missing is an error that names it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::vision::classify::ModelError;

/// One model compiled into the binary, under the name of the file it was made from.
#[derive(Debug, PartialEq, Eq)]
pub struct BuiltInModel {
    /// The shipped file's name in `models/`, e.g. `emotion-float.onnx`.
    pub name: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

/// YuNet, the face detector (`models/LICENSE.yunet.txt`).
pub static DETECTOR: BuiltInModel = BuiltInModel {
    name: "face_detection_yunet_2026may.onnx",
    bytes: include_bytes!("../../../models/face_detection_yunet_2026may.onnx"),
};

/// The emotion model `auto` picks on x86-64: float, since tract has no integer convolution
/// kernels there (the int8 model would be slower, not faster).
#[cfg(target_arch = "x86_64")]
pub static EMOTION_AUTO: BuiltInModel = BuiltInModel {
    name: "emotion-float.onnx",
    bytes: include_bytes!("../../../models/emotion-float.onnx"),
};

/// The emotion model `auto` picks on ARM (the Pis): int8, same accuracy, faster there.
#[cfg(not(target_arch = "x86_64"))]
pub static EMOTION_AUTO: BuiltInModel = BuiltInModel {
    name: "emotion.onnx",
    bytes: include_bytes!("../../../models/emotion.onnx"),
};

/// The small emotion model that `fast` selects.
pub static EMOTION_FAST: BuiltInModel = BuiltInModel {
    name: "emotion-fast.onnx",
    bytes: include_bytes!("../../../models/emotion-fast.onnx"),
};

/// `models/emotion.json`: the shipped emotion models' names and versions.
pub static EMOTION_META: &str = include_str!("../../../models/emotion.json");

/// Where a model is loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFile {
    /// A file the configuration names.
    Path(PathBuf),
    /// A model compiled into the binary.
    BuiltIn(&'static BuiltInModel),
}

impl ModelFile {
    /// How errors and logs name it: the path, or `built-in emotion-float.onnx`.
    pub fn label(&self) -> PathBuf {
        match self {
            ModelFile::Path(path) => path.clone(),
            ModelFile::BuiltIn(model) => PathBuf::from(format!("built-in {}", model.name)),
        }
    }

    /// The file's name without its folder, for matching against `emotion.json`.
    pub fn file_name(&self) -> Option<String> {
        match self {
            ModelFile::Path(path) => path.file_name().map(|n| n.to_string_lossy().into_owned()),
            ModelFile::BuiltIn(model) => Some(model.name.to_string()),
        }
    }

    /// Its bytes: read from disk, or borrowed from the binary.
    pub fn read(&self) -> Result<Cow<'static, [u8]>, ModelError> {
        match self {
            ModelFile::Path(path) => {
                std::fs::read(path)
                    .map(Cow::Owned)
                    .map_err(|source| ModelError::Read {
                        path: path.clone(),
                        source,
                    })
            }
            ModelFile::BuiltIn(model) => Ok(Cow::Borrowed(model.bytes)),
        }
    }

    /// A configured file, or the built-in model when the configuration names none.
    pub fn configured(path: Option<&Path>, built_in: &'static BuiltInModel) -> Self {
        match path {
            Some(path) => ModelFile::Path(path.to_path_buf()),
            None => ModelFile::BuiltIn(built_in),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn built_in_models_are_the_shipped_files() {
        for model in [&DETECTOR, &EMOTION_AUTO, &EMOTION_FAST] {
            assert_eq!(
                model.bytes,
                shipped(model.name).as_slice(),
                "{}",
                model.name
            );
        }
        assert_eq!(EMOTION_META.as_bytes(), shipped("emotion.json").as_slice());
    }

    #[test]
    fn a_configured_path_wins_and_a_missing_one_is_named() {
        let missing = Path::new("/nonexistent/yunet.onnx");
        let file = ModelFile::configured(Some(missing), &DETECTOR);
        assert_eq!(file.label(), missing);
        let err = file.read().expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/yunet.onnx"), "{err}");

        let built_in = ModelFile::configured(None, &DETECTOR);
        assert_eq!(
            built_in.label(),
            Path::new("built-in face_detection_yunet_2026may.onnx")
        );
        assert_eq!(
            built_in.read().expect("built in").len(),
            DETECTOR.bytes.len()
        );
    }
}
