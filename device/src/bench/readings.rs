//! `xpressify-device bench --readings FILE`: the model's probabilities for every FER2013
//! PrivateTest face as it comes and under the conditions of a real room (a dark room, a
//! tilted camera, a washed-out picture), one CSV line per face and condition. The
//! companion's `calibration evaluate` simulates listeners and their corrections on these
//! lines (docs/calibration.md): what a calibration can do is measured on the readings the
//! device really makes, and no image leaves this step.

use std::io::Write;

use xpressify_protocol::Emotion;

use super::fer2013::Sample;
use crate::vision::classify::{EmotionClassifier, FACE_SIDE, FaceCrop, View, softmax};

/// A condition a listener's camera may add to every face it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The face as FER2013 has it.
    Plain,
    /// A dim room: the light at 30 % and the sensor's response curved (gamma 1.3).
    Dark,
    /// A camera mounted at an angle: the face turned 25° in the picture.
    Tilted,
    /// A washed-out picture (a window behind the listener): contrast at 35 %.
    LowContrast,
}

impl Condition {
    /// Every condition, in the file's order.
    pub const ALL: [Condition; 4] = [
        Condition::Plain,
        Condition::Dark,
        Condition::Tilted,
        Condition::LowContrast,
    ];

    /// The name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Plain => "plain",
            Condition::Dark => "dark",
            Condition::Tilted => "tilted",
            Condition::LowContrast => "low_contrast",
        }
    }

    /// The face as the listener's camera would show it.
    pub fn apply(self, face: &FaceCrop) -> FaceCrop {
        match self {
            Condition::Plain => *face,
            Condition::Dark => face.map(|p| {
                let v = (f32::from(p) / 255.0 * 0.3).powf(1.3);
                (v * 255.0).round() as u8
            }),
            Condition::Tilted => rotated(face, 25f32.to_radians()),
            Condition::LowContrast => face.map(|p| {
                let v = (f32::from(p) - 127.5) * 0.35 + 127.5;
                v.round().clamp(0.0, 255.0) as u8
            }),
        }
    }
}

/// `face` turned by `angle` about its centre, bilinear, the border pixels repeated outside.
fn rotated(face: &FaceCrop, angle: f32) -> FaceCrop {
    let n = FACE_SIDE as f32;
    let c = (n - 1.0) / 2.0;
    let (sin, cos) = angle.sin_cos();
    let at = |x: i64, y: i64| {
        let x = x.clamp(0, FACE_SIDE as i64 - 1) as usize;
        let y = y.clamp(0, FACE_SIDE as i64 - 1) as usize;
        f32::from(face[y * FACE_SIDE + x])
    };
    std::array::from_fn(|i| {
        let (x, y) = ((i % FACE_SIDE) as f32 - c, (i / FACE_SIDE) as f32 - c);
        // Where this output pixel comes from in the upright face.
        let (sx, sy) = (cos * x + sin * y + c, -sin * x + cos * y + c);
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
        let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
        (top * (1.0 - fy) + bottom * fy).round() as u8
    })
}

/// The file's first line.
pub const HEADER: &str = "condition,label,angry,disgust,fear,happy,sad,surprise,neutral";

/// Writes the header and one line per face and condition: the condition, the FER label's
/// index and the seven probabilities of one pass (the view the device reads most faces in).
/// `progress` hears the faces done.
pub fn write(
    classifier: &EmotionClassifier,
    samples: &[Sample],
    out: &mut impl Write,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<()> {
    writeln!(out, "{HEADER}")?;
    for (i, sample) in samples.iter().enumerate() {
        for condition in Condition::ALL {
            let face = condition.apply(&sample.face);
            let p = softmax(&classifier.view_logits(&face, View::Plain)?);
            let values: Vec<String> = p.iter().map(|v| format!("{v:.6}")).collect();
            writeln!(
                out,
                "{},{},{}",
                condition.as_str(),
                Emotion::ALL
                    .iter()
                    .position(|e| *e == sample.emotion)
                    .unwrap_or(0),
                values.join(",")
            )?;
        }
        progress(i + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_change_the_face_as_named() {
        let face: FaceCrop = std::array::from_fn(|i| (i % FACE_SIDE * 5) as u8);
        assert_eq!(Condition::Plain.apply(&face), face);
        let dark = Condition::Dark.apply(&face);
        assert!(dark.iter().zip(&face).all(|(d, f)| d <= f));
        let flat = Condition::LowContrast.apply(&face);
        let spread = |f: &FaceCrop| {
            f.iter().max().copied().unwrap_or(0) - f.iter().min().copied().unwrap_or(0)
        };
        assert!(spread(&flat) < spread(&face) / 2);
        // A quarter turn of a horizontal ramp is a vertical ramp.
        let turned = rotated(&face, std::f32::consts::FRAC_PI_2);
        let row: Vec<u8> = (0..FACE_SIDE).map(|x| turned[24 * FACE_SIDE + x]).collect();
        let column: FaceCrop = std::array::from_fn(|i| turned[(i % FACE_SIDE) * FACE_SIDE + 24]);
        assert!(row.iter().max() == row.iter().min(), "{row:?}");
        assert!(spread(&column) > 200);
        assert_eq!(rotated(&face, 0.0), face);
    }
}
