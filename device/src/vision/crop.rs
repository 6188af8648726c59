//! The crop the emotion model expects: the eyes levelled and the face framed as FER2013
//! framed its faces, 48×48 grey, sampled from the full-resolution frame.

use image::RgbImage;

use super::classify::{FACE_SIDE, FaceCrop};
use super::detect::FaceBox;

/// Side of the crop relative to the mean of the detector box's width and height. Measured on
/// 211 upscaled PrivateTest faces: YuNet's (w + h) / 2 is 0.914 of the FER2013 square
/// (median 0.920; FER's own framing varies by ±16 %), and the eyes' midpoint lies 0.389 of
/// the side from the top.
pub const CROP_SIDE_PER_BOX: f32 = 1.0 / 0.914;
/// How far below the eyes' midpoint the crop's centre lies, as a fraction of its side.
pub const CROP_CENTRE_BELOW_EYES: f32 = 0.111;

/// The 48×48 grey crop of `face`, rotated so the eyes are level and framed as FER2013 frames
/// its faces, sampled bilinearly from the full-resolution frame (grey = Rec. 601 luma).
/// Outside the frame counts as black.
pub fn crop_face(frame: &RgbImage, face: &FaceBox) -> FaceCrop {
    let [re, le] = [face.landmarks[0], face.landmarks[1]];
    let angle = (le[1] - re[1]).atan2(le[0] - re[0]);
    // Landmarks from a degenerate detection could give a wild angle; trust at most 45°.
    let angle = if angle.abs() <= std::f32::consts::FRAC_PI_4 {
        angle
    } else {
        0.0
    };
    let (cos, sin) = (angle.cos(), angle.sin());
    let side = (face.w + face.h) / 2.0 * CROP_SIDE_PER_BOX;
    let (mx, my) = ((re[0] + le[0]) / 2.0, (re[1] + le[1]) / 2.0);
    let down = CROP_CENTRE_BELOW_EYES * side;
    let (cx, cy) = (mx - down * sin, my + down * cos);
    let step = side / FACE_SIDE as f32;
    let (fw, fh) = (frame.width() as i64, frame.height() as i64);
    let luma = |x: i64, y: i64| -> f32 {
        if x < 0 || y < 0 || x >= fw || y >= fh {
            return 0.0;
        }
        let p = frame.get_pixel(x as u32, y as u32).0;
        0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
    };
    std::array::from_fn(|i| {
        let (u, v) = ((i % FACE_SIDE) as f32 + 0.5, (i / FACE_SIDE) as f32 + 0.5);
        let (dx, dy) = (
            (u - FACE_SIDE as f32 / 2.0) * step,
            (v - FACE_SIDE as f32 / 2.0) * step,
        );
        let sx = cx + dx * cos - dy * sin - 0.5;
        let sy = cy + dx * sin + dy * cos - 0.5;
        let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
        let (tx, ty) = (sx - sx.floor(), sy - sy.floor());
        let top = luma(x0, y0) + tx * (luma(x0 + 1, y0) - luma(x0, y0));
        let bottom = luma(x0, y0 + 1) + tx * (luma(x0 + 1, y0 + 1) - luma(x0, y0 + 1));
        (top + ty * (bottom - top)).round().clamp(0.0, 255.0) as u8
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_of_an_upright_face_is_the_scaled_box() {
        // A 96×96 image whose left half is white: the crop of the whole image (levelled eyes)
        // must be white on its left half too.
        let img = RgbImage::from_fn(96, 96, |x, _| {
            if x < 48 {
                image::Rgb([255; 3])
            } else {
                image::Rgb([0; 3])
            }
        });
        let h = 96.0 / CROP_SIDE_PER_BOX;
        let eye_y = 48.0 - CROP_CENTRE_BELOW_EYES * 96.0;
        let f = FaceBox {
            x: 0.0,
            y: 0.0,
            w: h,
            h,
            score: 1.0,
            landmarks: [
                [30.0, eye_y],
                [66.0, eye_y],
                [48.0, 55.0],
                [35.0, 70.0],
                [61.0, 70.0],
            ],
        };
        let crop = crop_face(&img, &f);
        assert!(
            crop[10 * 48 + 5] > 250 && crop[10 * 48 + 42] < 5,
            "{} {}",
            crop[10 * 48 + 5],
            crop[10 * 48 + 42]
        );
    }
}
