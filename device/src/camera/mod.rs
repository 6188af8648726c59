//! Where frames come from. [`FrameSource`] is the one trait every source implements; the
//! device reads frames from it in a loop and never cares whether a camera or a folder is
//! behind it: `v4l2` (a camera, with `pixels` to turn its formats into RGB), `files` (images
//! from disk played like a camera) and `demo` (a drawn face acting the seven emotions).
//!
//! A whole implementation, a source that yields one grey frame and ends:
//!
//! ```
//! use xpressify_device::camera::{Frame, FrameSource, SourceError};
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

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use image::RgbImage;
use thiserror::Error;

pub mod demo;
pub mod files;
pub mod pixels;
pub mod v4l2;

pub use demo::DemoSource;
pub use files::FileSource;
pub use v4l2::CameraSource;

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

/// Delivers frames at a fixed rate like a camera's shutter: each call waits until one
/// interval after the previous frame; a late frame is not made up for.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    interval: Duration,
    due: Option<Instant>,
}

impl Pacer {
    /// `fps` of 0 means "as fast as frames are asked for".
    pub(crate) fn new(fps: f32) -> Pacer {
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

    /// Waits until the next frame is due.
    pub(crate) fn wait(&mut self) {
        if let Some(due) = self.due {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let now = Instant::now();
        self.due = Some(self.due.map_or(now, |d| d.max(now)) + self.interval);
    }

    /// The rate, for logs.
    pub(crate) fn describe(&self) -> String {
        if self.interval.is_zero() {
            "as fast as possible".to_string()
        } else {
            format!("{:.1} fps", 1.0 / self.interval.as_secs_f32())
        }
    }
}
