//! Face detection with YuNet (ONNX, through tract).
//!
//! A frame (or a region of it) is scaled, keeping its aspect, into the detector's fixed input,
//! a multiple of 32 on both sides, padded at the right and bottom; boxes and the five
//! landmarks come back in frame pixels. `follow` decides where to search; `crop` cuts the
//! faces found for the emotion model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use xpressify_protocol::config::ConfigError;

use image::RgbImage;
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use super::classify::ModelError;
use super::models::{DETECTOR, ModelFile};

/// One detected face, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// Right eye, left eye, nose tip, right and left mouth corner (the person's right and
    /// left), as `[x, y]`.
    pub landmarks: [[f32; 2]; 5],
}

impl FaceBox {
    /// Box area in pixels.
    pub fn area(&self) -> f32 {
        self.w * self.h
    }

    /// Intersection over union with `o`: 1 for the same box, 0 for disjoint ones.
    pub fn iou(&self, o: &FaceBox) -> f32 {
        let ix = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let iy = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.area() + o.area() - inter)
    }
}

/// Detector settings (`[detector]` in the device config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// The YuNet ONNX file; unset, the copy built into the binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    /// Detector input width in pixels, a multiple of 32.
    pub input_width: u32,
    /// Detector input height in pixels, a multiple of 32.
    pub input_height: u32,
    /// Minimum detector score for a face.
    pub score_threshold: f32,
    /// Boxes overlapping more than this (intersection over union) are one face.
    pub nms_iou: f32,
    /// Faces smaller than this many pixels (shorter side, in the frame) are ignored.
    pub min_face_px: f32,
    /// At most this many faces per frame, the most confident first.
    pub max_faces: usize,
    /// Side of the square detector input used around the faces of the previous frame (a
    /// multiple of 32); 0 scans every frame whole.
    pub follow_input: u32,
    /// While faces are followed, the whole frame is still scanned every this many frames,
    /// so a newcomer is found.
    pub full_scan_every: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            model: None,
            input_width: 320,
            input_height: 256,
            score_threshold: 0.6,
            nms_iou: 0.3,
            min_face_px: 24.0,
            max_faces: 8,
            follow_input: 160,
            full_scan_every: 10,
        }
    }
}

impl DetectorConfig {
    /// Checks ranges; the error names the key under `[detector]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.follow_input != 0
            && (!self.follow_input.is_multiple_of(32) || self.follow_input > 2048)
        {
            return Err(ConfigError::invalid(
                "detector.follow_input",
                format!(
                    "{} must be 0 or a multiple of 32 up to 2048",
                    self.follow_input
                ),
            ));
        }
        if self.full_scan_every == 0 {
            return Err(ConfigError::invalid(
                "detector.full_scan_every",
                "must be at least 1",
            ));
        }
        for (key, v) in [
            ("detector.input_width", self.input_width),
            ("detector.input_height", self.input_height),
        ] {
            if v == 0 || v % 32 != 0 || v > 2048 {
                return Err(ConfigError::invalid(
                    key,
                    format!("{v} must be a multiple of 32 from 32 to 2048"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.score_threshold) {
            return Err(ConfigError::invalid(
                "detector.score_threshold",
                format!("{} must be in [0, 1]", self.score_threshold),
            ));
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return Err(ConfigError::invalid(
                "detector.nms_iou",
                format!("{} must be in [0, 1]", self.nms_iou),
            ));
        }
        if !(self.min_face_px.is_finite() && self.min_face_px >= 0.0) {
            return Err(ConfigError::invalid(
                "detector.min_face_px",
                "must be 0 or more",
            ));
        }
        if self.max_faces == 0 {
            return Err(ConfigError::invalid(
                "detector.max_faces",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// A rectangle of the frame, in pixels: where the detector looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

/// YuNet planned for one input size.
struct Plan {
    plan: Arc<TypedSimplePlan>,
    width: usize,
    height: usize,
}

/// YuNet, loaded and optimised for the whole-frame input size and, when following is on,
/// for the smaller square input used around known faces.
pub struct FaceDetector {
    full: Plan,
    follow: Option<Plan>,
    config: DetectorConfig,
}

const STRIDES: [usize; 3] = [8, 16, 32];

impl FaceDetector {
    /// Loads the model and plans it for `config.input_width × config.input_height` (and
    /// `follow_input` squared).
    pub fn load(config: &DetectorConfig) -> Result<Self, ModelError> {
        let file = ModelFile::configured(config.model.as_deref(), &DETECTOR);
        let bytes = file.read()?;
        let path: &Path = &file.label();
        let load = |e: TractError| ModelError::Load {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        };
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(load)?;
        if model.outputs.len() != 12 {
            return Err(ModelError::Shape {
                path: path.to_path_buf(),
                message: format!("{} outputs, expected YuNet's 12", model.outputs.len()),
            });
        }
        let plan_for = |width: usize, height: usize| -> Result<Plan, ModelError> {
            let plan = model
                .clone()
                .with_input_fact(0, f32::fact([1, 3, height, width]).into())
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
                .map_err(load)?;
            Ok(Plan {
                plan,
                width,
                height,
            })
        };
        let full = plan_for(config.input_width as usize, config.input_height as usize)?;
        let follow = match config.follow_input as usize {
            0 => None,
            side => Some(plan_for(side, side)?),
        };
        Ok(FaceDetector {
            full,
            follow,
            config: config.clone(),
        })
    }

    /// The settings it was loaded with.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Faces in the whole of `frame`, the most confident first, after non-maximum
    /// suppression.
    pub fn detect(&self, frame: &RgbImage) -> Result<Vec<FaceBox>, ModelError> {
        let whole = Region {
            x: 0.0,
            y: 0.0,
            w: frame.width() as f32,
            h: frame.height() as f32,
        };
        self.detect_in(frame, whole, &self.full)
    }

    /// The side of the square input used around followed faces; `None` when following is
    /// off (`detector.follow_input = 0`).
    pub fn follow_input(&self) -> Option<usize> {
        self.follow.as_ref().map(|plan| plan.width)
    }

    /// Faces in `region` of `frame`, searched with the smaller follow input; `None` when
    /// following is off.
    pub fn detect_region(
        &self,
        frame: &RgbImage,
        region: Region,
    ) -> Result<Option<Vec<FaceBox>>, ModelError> {
        let Some(plan) = &self.follow else {
            return Ok(None);
        };
        self.detect_in(frame, region, plan).map(Some)
    }

    fn detect_in(
        &self,
        frame: &RgbImage,
        region: Region,
        plan: &Plan,
    ) -> Result<Vec<FaceBox>, ModelError> {
        let (iw, ih) = (plan.width, plan.height);
        if region.w < 1.0 || region.h < 1.0 {
            return Ok(Vec::new());
        }
        let scale = (iw as f32 / region.w).min(ih as f32 / region.h);
        let input = letterbox_bgr(frame, region, iw, ih, scale)?;
        let outputs = plan
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| ModelError::Run(format!("{e:#}")))?;
        let view = |i: usize| -> Result<&[f32], ModelError> {
            outputs[i]
                .to_plain_array_view::<f32>()
                .map_err(|e| ModelError::Run(format!("{e:#}")))?
                .to_slice()
                .ok_or_else(|| ModelError::Run(format!("output {i} is not contiguous")))
        };
        // Input pixels back to frame pixels.
        let to_x = |v: f32| region.x + v / scale;
        let to_y = |v: f32| region.y + v / scale;
        let mut faces = Vec::new();
        for (k, stride) in STRIDES.iter().enumerate() {
            let (cls, obj, bbox, kps) = (view(k)?, view(k + 3)?, view(k + 6)?, view(k + 9)?);
            let cols = iw / stride;
            let cells = cols * (ih / stride);
            if cls.len() < cells
                || obj.len() < cells
                || bbox.len() < cells * 4
                || kps.len() < cells * 10
            {
                return Err(ModelError::Run(format!(
                    "stride {stride}: outputs smaller than the {cells} cells expected"
                )));
            }
            let s = *stride as f32;
            for idx in 0..cells {
                let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
                if score < self.config.score_threshold {
                    continue;
                }
                let (c, r) = ((idx % cols) as f32, (idx / cols) as f32);
                let b = &bbox[idx * 4..idx * 4 + 4];
                let (cx, cy) = ((c + b[0]) * s, (r + b[1]) * s);
                let (w, h) = (b[2].exp() * s, b[3].exp() * s);
                let p = &kps[idx * 10..idx * 10 + 10];
                let landmarks = std::array::from_fn(|j| {
                    [to_x((p[2 * j] + c) * s), to_y((p[2 * j + 1] + r) * s)]
                });
                let face = FaceBox {
                    x: to_x(cx - w / 2.0),
                    y: to_y(cy - h / 2.0),
                    w: w / scale,
                    h: h / scale,
                    score,
                    landmarks,
                };
                if face.w.min(face.h) >= self.config.min_face_px {
                    faces.push(face);
                }
            }
        }
        Ok(non_max_suppression(
            faces,
            self.config.nms_iou,
            self.config.max_faces,
        ))
    }
}

/// Keeps the most confident of overlapping boxes.
pub fn non_max_suppression(mut faces: Vec<FaceBox>, iou: f32, max: usize) -> Vec<FaceBox> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<FaceBox> = Vec::new();
    for f in faces {
        if kept.len() == max {
            break;
        }
        if kept.iter().all(|k| k.iou(&f) <= iou) {
            kept.push(f);
        }
    }
    kept
}

/// `region` of the frame scaled by `scale` into the top-left of a `w × h` black canvas, as
/// YuNet wants it: BGR, 0–255, NCHW. Bilinear sampling (a 2×2 box filter at exactly half
/// size).
fn letterbox_bgr(
    frame: &RgbImage,
    region: Region,
    w: usize,
    h: usize,
    scale: f32,
) -> Result<Tensor, ModelError> {
    let mut data = vec![0f32; 3 * w * h];
    let (fw, fh) = (frame.width() as usize, frame.height() as usize);
    let sw = ((region.w * scale).round() as usize).min(w);
    let sh = ((region.h * scale).round() as usize).min(h);
    let raw = frame.as_raw();
    for y in 0..sh {
        let sy = (region.y + (y as f32 + 0.5) / scale - 0.5).clamp(0.0, (fh - 1) as f32);
        let (y0, ty) = (sy.floor() as usize, sy.fract());
        let y1 = (y0 + 1).min(fh - 1);
        for x in 0..sw {
            let sx = (region.x + (x as f32 + 0.5) / scale - 0.5).clamp(0.0, (fw - 1) as f32);
            let (x0, tx) = (sx.floor() as usize, sx.fract());
            let x1 = (x0 + 1).min(fw - 1);
            for ch in 0..3 {
                let px = |xx: usize, yy: usize| f32::from(raw[(yy * fw + xx) * 3 + ch]);
                let top = px(x0, y0) + tx * (px(x1, y0) - px(x0, y0));
                let bottom = px(x0, y1) + tx * (px(x1, y1) - px(x0, y1));
                // RGB -> BGR plane order.
                data[(2 - ch) * w * h + y * w + x] = top + ty * (bottom - top);
            }
        }
    }
    Tensor::from_shape(&[1, 3, h, w], &data).map_err(|e| ModelError::Run(format!("{e:#}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 10×10 box at (`x`, 0) with `score`, no landmarks: for the tests of boxes.
    pub(crate) fn face(x: f32, score: f32) -> FaceBox {
        FaceBox {
            x,
            y: 0.0,
            w: 10.0,
            h: 10.0,
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let kept = non_max_suppression(
            vec![face(0.0, 0.7), face(1.0, 0.9), face(50.0, 0.8)],
            0.3,
            8,
        );
        assert_eq!(kept.iter().map(|f| f.x).collect::<Vec<_>>(), [1.0, 50.0]);
        assert_eq!(
            non_max_suppression(vec![face(0.0, 0.7), face(50.0, 0.8)], 0.3, 1).len(),
            1
        );
    }
}
