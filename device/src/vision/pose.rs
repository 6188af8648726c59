//! Whether a detected face can be read: YuNet also finds profiles and the backs of heads, and
//! a model trained mostly on faces looking at the camera reads those worse or as noise (a
//! profile in a press photo came out `sad` beside a clearly angry frontal face). The five
//! landmarks tell them apart: on a face turned towards the camera the eyes lie far apart for
//! the box's width, and the nose lies between them, above the mouth.
//!
//! The limits were measured on frames built from FER2013 PrivateTest faces, 160 px high on a
//! plain background: see [`MIN_EYES_PER_WIDTH`] and [`MAX_NOSE_OFFSET`]. docs/device.md
//! ("Which face the mood follows") tells the policy built on it.

use super::detect::FaceBox;

/// The eyes' distance over the box's width below which a face is turned too far to read.
/// On the 3,250 PrivateTest faces YuNet found (of 3,589) the median is 0.46 and the 1st
/// percentile 0.28; every face below 0.25 is a profile when looked at, with the far eye hidden
/// and put beside the near one (0.10–0.25).
pub const MIN_EYES_PER_WIDTH: f32 = 0.25;

/// How far the nose may sit from the middle of the eyes, as a share of their distance along
/// the line through them (0: midway; 0.5: under an eye). On the same faces the median is 0.05,
/// the 95th percentile 0.27 and the 99th 0.56, and the float model's accuracy falls with it:
/// 74.7 % below 0.1, 62 % at 0.2–0.3, 58 % at 0.3–0.5. The 20 faces beyond 0.7 are all
/// profiles when looked at. The limit turns away 52 of the 3,250 faces (1.6 %, read right 56 % of the
/// time against 72.2 % for the rest).
pub const MAX_NOSE_OFFSET: f32 = 0.45;

/// What the landmarks say about a face's pose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Distance between the eyes over the box's width.
    pub eyes_per_width: f32,
    /// The nose's offset from the eyes' middle along the line through them, in eye
    /// distances: negative towards the person's right eye, positive towards the left.
    pub nose_offset: f32,
    /// Whether eyes, nose and mouth come in that order from the top of the face (in the
    /// frame of the eyes' line, so a tilted head still counts).
    pub upright: bool,
}

impl Pose {
    /// The pose of `face` from its landmarks.
    pub fn of(face: &FaceBox) -> Pose {
        let [re, le, nose, rm, lm] = face.landmarks;
        let axis = [le[0] - re[0], le[1] - re[1]];
        let eyes = axis[0].hypot(axis[1]);
        let mid = [(re[0] + le[0]) / 2.0, (re[1] + le[1]) / 2.0];
        // Coordinates along the eyes' line (u) and across it, downwards for an upright face (v).
        let frame = |p: [f32; 2]| {
            let d = [p[0] - mid[0], p[1] - mid[1]];
            if eyes <= f32::EPSILON {
                return (0.0, 0.0);
            }
            (
                (d[0] * axis[0] + d[1] * axis[1]) / (eyes * eyes),
                (d[1] * axis[0] - d[0] * axis[1]) / (eyes * eyes),
            )
        };
        let (nose_u, nose_v) = frame(nose);
        let mouth = [(rm[0] + lm[0]) / 2.0, (rm[1] + lm[1]) / 2.0];
        let (_, mouth_v) = frame(mouth);
        Pose {
            eyes_per_width: if face.w > 0.0 { eyes / face.w } else { 0.0 },
            nose_offset: nose_u,
            // The person's right eye lies left in the picture of a face looking at the camera:
            // the eyes' line then points right (axis x > 0), whatever the tilt up to 90°.
            upright: axis[0] > 0.0 && nose_v > 0.0 && mouth_v > nose_v,
        }
    }

    /// Whether the face is turned towards the camera enough for the emotion model to read.
    pub fn readable(&self) -> bool {
        self.upright
            && self.eyes_per_width >= MIN_EYES_PER_WIDTH
            && self.nose_offset.abs() <= MAX_NOSE_OFFSET
    }
}

/// Whether `face` can be read (see [`Pose::readable`]).
pub fn readable(face: &FaceBox) -> bool {
    Pose::of(face).readable()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100-px box with the given landmarks.
    fn face(landmarks: [[f32; 2]; 5]) -> FaceBox {
        FaceBox {
            x: 0.0,
            y: 0.0,
            w: 100.0,
            h: 120.0,
            score: 0.9,
            landmarks,
        }
    }

    const FRONTAL: [[f32; 2]; 5] = [
        [30.0, 45.0],
        [70.0, 45.0],
        [50.0, 70.0],
        [35.0, 90.0],
        [65.0, 90.0],
    ];

    #[test]
    fn a_frontal_face_is_readable_upright_or_tilted() {
        let pose = Pose::of(&face(FRONTAL));
        assert!((pose.eyes_per_width - 0.4).abs() < 1e-6);
        assert!(pose.nose_offset.abs() < 1e-6);
        assert!(pose.readable(), "{pose:?}");
        // The same face tilted by 30° about its centre.
        let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
        let tilted = FRONTAL.map(|[x, y]| {
            let (dx, dy) = (x - 50.0, y - 60.0);
            [50.0 + dx * c - dy * s, 60.0 + dx * s + dy * c]
        });
        assert!(readable(&face(tilted)), "{:?}", Pose::of(&face(tilted)));
    }

    #[test]
    fn a_profile_is_not_readable() {
        // Turned to the side: the eyes close together, the nose beyond the near eye.
        let profile = [
            [58.0, 45.0],
            [72.0, 45.0],
            [85.0, 68.0],
            [66.0, 90.0],
            [78.0, 90.0],
        ];
        let pose = Pose::of(&face(profile));
        assert!(pose.eyes_per_width < MIN_EYES_PER_WIDTH, "{pose:?}");
        assert!(pose.nose_offset > MAX_NOSE_OFFSET, "{pose:?}");
        assert!(!pose.readable());
        // Turned half-way: the eyes still apart, the nose past the left eye.
        let half = [
            [30.0, 45.0],
            [62.0, 45.0],
            [68.0, 70.0],
            [40.0, 90.0],
            [64.0, 90.0],
        ];
        assert!(!readable(&face(half)), "{:?}", Pose::of(&face(half)));
    }

    #[test]
    fn the_back_of_a_head_and_degenerate_landmarks_are_not_readable() {
        // Landmarks in no facial order: the "eyes" swapped and the "mouth" above the "nose".
        let scrambled = [
            [70.0, 60.0],
            [30.0, 62.0],
            [50.0, 40.0],
            [35.0, 30.0],
            [65.0, 30.0],
        ];
        assert!(!readable(&face(scrambled)));
        assert!(!readable(&face([[50.0, 50.0]; 5])));
        assert!(!readable(&FaceBox {
            w: 0.0,
            ..face(FRONTAL)
        }));
    }
}
