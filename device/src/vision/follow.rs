//! Following faces from frame to frame, so most frames search only around where the faces
//! were: a smaller input, a fraction of the work of a whole-frame scan.

use image::RgbImage;

use super::classify::ModelError;
use super::detect::DetectorConfig;
use super::detect::{FaceBox, FaceDetector, Region};

/// The region around known faces is this many times their size, so a face that moved
/// half its width since the last frame is still inside.
const FOLLOW_MARGIN: f32 = 2.0;

/// The square around all of `known`, [`FOLLOW_MARGIN`] times their extent and at least half
/// the follow input (faces are never blown up more than 2×), kept inside the frame.
fn follow_region(known: &[FaceBox], fw: u32, fh: u32, input: usize) -> Option<Region> {
    let first = known.first()?;
    let (mut x0, mut y0) = (first.x, first.y);
    let (mut x1, mut y1) = (first.x + first.w, first.y + first.h);
    for f in &known[1..] {
        (x0, y0) = (x0.min(f.x), y0.min(f.y));
        (x1, y1) = (x1.max(f.x + f.w), y1.max(f.y + f.h));
    }
    let (fw, fh) = (fw as f32, fh as f32);
    let side = ((x1 - x0).max(y1 - y0) * FOLLOW_MARGIN)
        .max(input as f32 / 2.0)
        .min(fw.min(fh));
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let x = (cx - side / 2.0).clamp(0.0, fw - side);
    let y = (cy - side / 2.0).clamp(0.0, fh - side);
    Some(Region {
        x,
        y,
        w: side,
        h: side,
    })
}

/// Which search found a frame's faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The whole frame, at the full input size.
    Full,
    /// Only the region around the previous frame's faces, at the follow input size.
    Near,
}

/// Follows faces from frame to frame so most frames search only around where they were:
/// the whole frame is scanned when nothing is followed, when a followed face is not found
/// near its last place, and every `full_scan_every` frames to notice newcomers.
#[derive(Debug, Clone)]
pub struct FaceFollower {
    last: Vec<FaceBox>,
    since_full_scan: u32,
    full_scan_every: u32,
}

impl FaceFollower {
    /// A follower with nothing to follow yet.
    pub fn new(config: &DetectorConfig) -> Self {
        FaceFollower {
            last: Vec::new(),
            since_full_scan: 0,
            full_scan_every: config.full_scan_every.max(1),
        }
    }

    /// The faces of the next frame of a video, and which search found them.
    pub fn find(
        &mut self,
        detector: &FaceDetector,
        frame: &RgbImage,
    ) -> Result<(Vec<FaceBox>, Scan), ModelError> {
        if !self.last.is_empty()
            && self.since_full_scan + 1 < self.full_scan_every
            && let Some(near) = self.detect_near(detector, frame)?
            // Every followed face must still be there; otherwise someone left or moved fast,
            // and only a full scan can tell.
            && near.len() >= self.last.len()
        {
            self.since_full_scan += 1;
            self.last.clone_from(&near);
            return Ok((near, Scan::Near));
        }
        let faces = detector.detect(frame)?;
        self.since_full_scan = 0;
        self.last.clone_from(&faces);
        Ok((faces, Scan::Full))
    }

    /// Faces in the region around the followed ones, with the follow input; `None` when
    /// following is off or nothing is followed.
    fn detect_near(
        &self,
        detector: &FaceDetector,
        frame: &RgbImage,
    ) -> Result<Option<Vec<FaceBox>>, ModelError> {
        let Some(side) = detector.follow_input() else {
            return Ok(None);
        };
        let Some(region) = follow_region(&self.last, frame.width(), frame.height(), side) else {
            return Ok(None);
        };
        detector.detect_region(frame, region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::detect::tests::face;

    #[test]
    fn follow_region_is_a_square_around_the_faces_inside_the_frame() {
        let r = follow_region(&[face(100.0, 0.9)], 640, 480, 160).expect("a region");
        // A 10-px face: the region is never under half the input (80 px).
        assert_eq!((r.w, r.h), (80.0, 80.0));
        assert_eq!((r.x, r.y), (65.0, 0.0), "centred on x, pushed inside on y");
        let big = FaceBox {
            w: 300.0,
            h: 300.0,
            ..face(500.0, 0.9)
        };
        let r = follow_region(&[big], 640, 480, 160).expect("a region");
        assert_eq!((r.x, r.y, r.w, r.h), (160.0, 0.0, 480.0, 480.0));
        let two =
            follow_region(&[face(0.0, 0.9), face(100.0, 0.9)], 640, 480, 160).expect("a region");
        assert_eq!((two.x, two.w), (0.0, 220.0));
        assert!(follow_region(&[], 640, 480, 160).is_none());
    }
}
