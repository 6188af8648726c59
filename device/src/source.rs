//! Where frames come from. [`FrameSource`] is the one trait every source implements; the
//! device reads frames from it in a loop and never cares whether a camera or a folder is
//! behind it.
//!
//! A whole implementation, a source that yields one grey frame and ends:
//!
//! ```
//! use xpressify_device::source::{Frame, FrameSource, SourceError};
//!
//! struct OneFrame(bool);
//!
//! impl FrameSource for OneFrame {
//!     fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
//!         if std::mem::replace(&mut self.0, true) {
//!             return Ok(None);
//!         }
//!         Ok(Some(Frame::now(0, image::RgbImage::from_pixel(64, 48, image::Rgb([128; 3])))))
//!     }
//! }
//!
//! let mut source = OneFrame(false);
//! assert!(source.next_frame().unwrap().is_some());
//! assert!(source.next_frame().unwrap().is_none());
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use image::RgbImage;
use thiserror::Error;

/// One picture, with when it was taken.
pub struct Frame {
    /// The pixels, RGB.
    pub image: RgbImage,
    /// Counts frames from 0 in the order the source produced them.
    pub index: u64,
    /// Monotonic capture time, for smoothing and latency.
    pub captured: Instant,
    /// Wall-clock capture time, milliseconds since the Unix epoch, for messages.
    pub timestamp_ms: u64,
}

impl Frame {
    /// A frame captured now.
    pub fn now(index: u64, image: RgbImage) -> Frame {
        Frame {
            image,
            index,
            captured: Instant::now(),
            timestamp_ms: unix_ms(),
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why a frame could not be had. A source stays usable after an error: the next call tries
/// the next frame.
#[derive(Debug, Error)]
pub enum SourceError {
    /// Nothing matched the configured path or pattern.
    #[error("no PNG or JPEG images at {0}")]
    NoImages(String),
    /// The glob pattern is malformed.
    #[error("bad pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file could not be read or decoded.
    #[error("cannot read image {path}: {message}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The decoder's or the OS's message.
        message: String,
    },
}

/// A source of frames: a camera, a folder, a test pattern.
pub trait FrameSource {
    /// The next frame, waiting for it if need be; `Ok(None)` when the source has ended.
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;

    /// A short description for logs.
    fn describe(&self) -> String {
        "frame source".into()
    }
}

/// Images from disk played like a camera: one file, every PNG/JPEG of a folder (sorted by
/// name), or a glob pattern (`frames/*.jpg`), at a fixed rate, once or looping.
pub struct FileSource {
    files: Vec<PathBuf>,
    pacer: Pacer,
    looping: bool,
    next: usize,
    produced: u64,
    spec: String,
}

/// Delivers frames at a fixed rate like a camera's shutter: each call waits until one
/// interval after the previous frame; a late frame is not made up for.
#[derive(Debug, Clone)]
struct Pacer {
    interval: Duration,
    due: Option<Instant>,
}

impl Pacer {
    /// `fps` of 0 means "as fast as frames are asked for".
    fn new(fps: f32) -> Pacer {
        let interval = if fps > 0.0 {
            Duration::from_secs_f32(1.0 / fps)
        } else {
            Duration::ZERO
        };
        Pacer {
            interval,
            due: None,
        }
    }

    fn wait(&mut self) {
        if let Some(due) = self.due {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let now = Instant::now();
        self.due = Some(self.due.map_or(now, |d| d.max(now)) + self.interval);
    }

    fn describe(&self) -> String {
        if self.interval.is_zero() {
            "as fast as possible".to_string()
        } else {
            format!("{:.1} fps", 1.0 / self.interval.as_secs_f32())
        }
    }
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

impl FileSource {
    /// Resolves `spec` to a list of images; `fps` of 0 means "as fast as they are read".
    pub fn open(spec: &str, fps: f32, looping: bool) -> Result<Self, SourceError> {
        let path = Path::new(spec);
        let mut files: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(path)
                .map_err(|e| SourceError::Image {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_image(p))
                .collect()
        } else if spec.contains(['*', '?', '[']) {
            glob::glob(spec)
                .map_err(|e| SourceError::Pattern {
                    pattern: spec.to_string(),
                    message: e.to_string(),
                })?
                .filter_map(Result::ok)
                .filter(|p| is_image(p))
                .collect()
        } else if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        };
        files.sort();
        if files.is_empty() {
            return Err(SourceError::NoImages(spec.to_string()));
        }
        Ok(FileSource {
            files,
            pacer: Pacer::new(fps),
            looping,
            next: 0,
            produced: 0,
            spec: spec.to_string(),
        })
    }

    /// The images, in playing order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl FrameSource for FileSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.next == self.files.len() {
            if !self.looping {
                return Ok(None);
            }
            self.next = 0;
        }
        self.pacer.wait();
        let path = &self.files[self.next];
        self.next += 1;
        let image = image::open(path)
            .map_err(|e| SourceError::Image {
                path: path.clone(),
                message: e.to_string(),
            })?
            .to_rgb8();
        let frame = Frame::now(self.produced, image);
        self.produced += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!(
            "{} image(s) from {} at {}{}",
            self.files.len(),
            self.spec,
            self.pacer.describe(),
            if self.looping { ", looping" } else { ", once" }
        )
    }
}

/// The demo camera (`camera.source = "demo"`): a drawn face that acts the seven emotions in
/// turn ([`crate::demo_face::SEQUENCE`]), holding each for a while and drifting a little, for
/// machines without a camera. It never ends.
pub struct DemoSource {
    pacer: Pacer,
    frames_per_expression: u64,
    produced: u64,
}

impl DemoSource {
    /// Frames at `fps`, each expression held for `hold` (at least one frame).
    pub fn new(fps: f32, hold: Duration) -> DemoSource {
        // Unpaced (fps 0) counts as 4 fps for holding, so expressions still change.
        let rate = if fps > 0.0 { fps } else { 4.0 };
        let per = (hold.as_secs_f32() * rate).round().max(1.0) as u64;
        DemoSource {
            pacer: Pacer::new(fps),
            frames_per_expression: per,
            produced: 0,
        }
    }

    /// The emotion the face acts in frame `index`.
    pub fn acted(&self, index: u64) -> xpressify_protocol::Emotion {
        let seq = crate::demo_face::SEQUENCE;
        seq[((index / self.frames_per_expression) % seq.len() as u64) as usize]
    }
}

impl FrameSource for DemoSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        self.pacer.wait();
        let index = self.produced;
        let image = crate::demo_face::frame(self.acted(index), index as usize);
        self.produced += 1;
        Ok(Some(Frame::now(index, image)))
    }

    fn describe(&self) -> String {
        format!(
            "the demo face, {} frames per expression, at {}",
            self.frames_per_expression,
            self.pacer.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_images(dir: &Path, names: &[&str]) {
        for n in names {
            RgbImage::from_pixel(8, 8, image::Rgb([10, 20, 30]))
                .save(dir.join(n))
                .expect("write png");
        }
    }

    #[test]
    fn plays_a_folder_in_order_once_or_looping() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_images(dir.path(), &["b.png", "a.png"]);
        std::fs::write(dir.path().join("notes.txt"), "not an image").expect("write");
        let spec = dir.path().to_string_lossy().to_string();
        let mut once = FileSource::open(&spec, 0.0, false).expect("opens");
        assert_eq!(once.files().len(), 2);
        assert!(once.files()[0].ends_with("a.png"));
        assert!(once.next_frame().expect("frame").is_some());
        assert!(once.next_frame().expect("frame").is_some());
        assert!(once.next_frame().expect("end").is_none());
        let mut looping = FileSource::open(&spec, 0.0, true).expect("opens");
        let indices: Vec<u64> = (0..5)
            .map(|_| looping.next_frame().expect("ok").expect("frame").index)
            .collect();
        assert_eq!(indices, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn globs_single_files_and_pacing() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_images(dir.path(), &["x1.png", "x2.png", "y.png"]);
        let pattern = format!("{}/x*.png", dir.path().display());
        let mut s = FileSource::open(&pattern, 20.0, false).expect("opens");
        assert_eq!(s.files().len(), 2);
        let start = Instant::now();
        while s.next_frame().expect("ok").is_some() {}
        assert!(
            start.elapsed() >= Duration::from_millis(45),
            "20 fps paces frames"
        );
        let single = dir.path().join("y.png");
        assert!(FileSource::open(&single.to_string_lossy(), 0.0, false).is_ok());
    }

    #[test]
    fn the_demo_face_acts_each_emotion_in_turn() {
        use crate::demo_face::SEQUENCE;
        // Unpaced counts as 4 fps: 0.5 s per expression is two frames each.
        let mut s = DemoSource::new(0.0, Duration::from_millis(500));
        s.pacer = Pacer::new(0.0);
        let acted: Vec<_> = (0..16).map(|i| s.acted(i)).collect();
        assert_eq!(
            acted[..4],
            [SEQUENCE[0], SEQUENCE[0], SEQUENCE[1], SEQUENCE[1]]
        );
        assert_eq!(
            acted[2 * SEQUENCE.len()],
            SEQUENCE[0],
            "then it starts again"
        );
        let frames: Vec<Frame> = (0..3)
            .map(|_| s.next_frame().expect("ok").expect("never ends"))
            .collect();
        assert_eq!(frames[0].image.dimensions(), (640, 480));
        assert_ne!(frames[0].image, frames[1].image, "the face drifts");
        assert_eq!(frames[2].index, 2);
    }

    #[test]
    fn bad_input_gives_clear_errors_and_the_source_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            FileSource::open(&dir.path().to_string_lossy(), 0.0, false),
            Err(SourceError::NoImages(_))
        ));
        std::fs::write(dir.path().join("a.png"), b"not a png").expect("write");
        write_images(dir.path(), &["b.png"]);
        let mut s = FileSource::open(&dir.path().to_string_lossy(), 0.0, false).expect("opens");
        let err = s.next_frame().err().expect("corrupt image is an error");
        assert!(err.to_string().contains("a.png"), "{err}");
        assert!(s.next_frame().expect("next file is fine").is_some());
    }
}
