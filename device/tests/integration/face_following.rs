//! Following faces through a video: most frames are searched only near the last faces, yet
//! every frame's faces must be those a whole-frame scan finds, a cut to another person must
//! be caught on its first frame, and a newcomer within `full_scan_every` frames.

use image::RgbImage;
use xpressify_device::bench::fer2013::{self, Split};
use xpressify_device::bench::{self, FRAMES_PER_PERSON};
use xpressify_device::vision::detect::{DetectorConfig, FaceDetector};
use xpressify_device::vision::follow::{FaceFollower, Scan};

fn config() -> DetectorConfig {
    DetectorConfig::default()
}

/// The detector and a fresh follower for `config`.
fn load(config: &DetectorConfig) -> (FaceDetector, FaceFollower) {
    let detector = FaceDetector::load(config).expect("YuNet loads");
    (detector, FaceFollower::new(config))
}

#[test]
fn followed_faces_match_whole_frame_scans_and_cuts_are_caught() {
    if fer2013::path_for_test("followed_faces_match_whole_frame_scans_and_cuts_are_caught")
        .is_none()
    {
        return;
    }
    // Full scans fall on frames 0, 7, …, 28 and then 37, …: the cut at frame 30 is not one
    // of them, so it must be caught because the near search comes back empty.
    let config = DetectorConfig {
        full_scan_every: 7,
        ..config()
    };
    let (detector, mut follower) = load(&config);
    let faces = fer2013::load(&fer2013::default_path(), Split::PrivateTest).expect("FER2013");
    // Two people YuNet finds well, each drifting 2 px right and 1 px down per frame.
    let frames: Vec<RgbImage> = (0..2 * FRAMES_PER_PERSON as u32)
        .map(|i| match i.checked_sub(FRAMES_PER_PERSON as u32) {
            None => bench::face_on_background(&faces[0].face, 160, (40 + 2 * i, 40 + i)),
            Some(t) => bench::face_on_background(&faces[2].face, 180, (380 + t, 220 + t)),
        })
        .collect();
    let mut near = 0;
    for (i, frame) in frames.iter().enumerate() {
        let (found, scan) = follower.find(&detector, frame).expect("detect");
        let whole = detector.detect(frame).expect("detect");
        assert_eq!((found.len(), whole.len()), (1, 1), "frame {i}: face count");
        for (f, w) in found.iter().zip(&whole) {
            assert!(f.iou(w) > 0.7, "frame {i}: followed {f:?}, whole {w:?}");
        }
        if i == 0 || i == FRAMES_PER_PERSON {
            assert_eq!(
                scan,
                Scan::Full,
                "frame {i}: a new person needs a full scan"
            );
        }
        near += usize::from(scan == Scan::Near);
    }
    // Full scans: 0, 7, 14, 21, 28, the cut at 30, then 37, 44, 51, 58.
    assert_eq!(
        near,
        frames.len() - 10,
        "frames searched near the last faces"
    );
}

#[test]
fn a_newcomer_is_found_by_the_next_full_scan() {
    if fer2013::path_for_test("a_newcomer_is_found_by_the_next_full_scan").is_none() {
        return;
    }
    let config = DetectorConfig {
        full_scan_every: 5,
        ..config()
    };
    let (detector, mut follower) = load(&config);
    let faces = fer2013::load(&fer2013::default_path(), Split::PrivateTest).expect("FER2013");
    let one = bench::face_on_background(&faces[0].face, 160, (20, 20));
    let other = bench::face_on_background(&faces[1].face, 160, (440, 300));
    // The second person walks in at frame 2 (bottom right, far from the first).
    let two = RgbImage::from_fn(640, 480, |x, y| {
        if x >= 440 && y >= 300 {
            *other.get_pixel(x, y)
        } else {
            *one.get_pixel(x, y)
        }
    });
    let mut counts = Vec::new();
    for frame in [&one, &one, &two, &two, &two, &two] {
        let (found, scan) = follower.find(&detector, frame).expect("detect");
        counts.push((found.len(), scan));
    }
    use Scan::{Full, Near};
    assert_eq!(
        counts,
        [
            (1, Full),
            (1, Near),
            (1, Near),
            (1, Near),
            (1, Near),
            (2, Full)
        ],
        "the newcomer waits for the fifth frame's full scan"
    );
}

#[test]
fn following_off_scans_every_frame_whole() {
    if fer2013::path_for_test("following_off_scans_every_frame_whole").is_none() {
        return;
    }
    let config = DetectorConfig {
        follow_input: 0,
        ..config()
    };
    let (detector, mut follower) = load(&config);
    let frames = bench::synthetic_frames(4).expect("frames from FER2013");
    for frame in &frames {
        let (found, scan) = follower.find(&detector, frame).expect("detect");
        assert_eq!((found.len(), scan), (1, Scan::Full));
    }
}
