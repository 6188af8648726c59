//! A V4L2 camera as a [`FrameSource`]: negotiates size, rate and format (MJPEG or YUYV),
//! streams through mapped buffers, and survives being unplugged or busy by reopening with
//! backoff. The ioctl part is kept thin; the pixel work is in [`super::pixels`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

use crate::camera::pixels::{self, PixelFormat};
use crate::camera::{Frame, FrameSource, SourceError};

/// What the camera is doing, for logs and the status LED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraState {
    /// Not opened yet.
    Closed,
    /// Delivering frames.
    Streaming,
    /// Open failed or the stream broke; the next attempt waits `retry_in`.
    Retrying {
        /// Why the last attempt failed.
        reason: String,
        /// Failures in a row.
        attempts: u32,
    },
}

struct Open {
    // The stream holds the device's handle; the device is kept for its lifetime.
    stream: Stream<'static>,
    _device: Device,
    format: PixelFormat,
    width: u32,
    height: u32,
}

/// A camera on `/dev/videoN`.
pub struct CameraSource {
    path: PathBuf,
    width: u32,
    height: u32,
    fps: u32,
    format: PixelFormat,
    open: Option<Open>,
    state: CameraState,
    next_attempt: Instant,
    produced: u64,
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl CameraSource {
    /// A camera to open on first use; nothing touches the device yet.
    pub fn new(path: PathBuf, width: u32, height: u32, fps: u32, format: PixelFormat) -> Self {
        CameraSource {
            path,
            width,
            height,
            fps,
            format,
            open: None,
            state: CameraState::Closed,
            next_attempt: Instant::now(),
            produced: 0,
        }
    }

    /// The camera's state.
    pub fn state(&self) -> &CameraState {
        &self.state
    }

    fn try_open(&self) -> std::io::Result<Open> {
        let device = Device::with_path(&self.path)?;
        let wanted = Format::new(self.width, self.height, FourCC::new(&self.format.fourcc()));
        let got = device.set_format(&wanted)?;
        let format = PixelFormat::from_fourcc(got.fourcc.repr).ok_or_else(|| {
            std::io::Error::other(format!(
                "camera offers {} instead of {}; choose camera.format = \"mjpeg\" or \"yuyv\"",
                got.fourcc,
                FourCC::new(&self.format.fourcc())
            ))
        })?;
        if let Err(e) = device.set_params(&v4l::video::capture::Parameters::with_fps(self.fps)) {
            warn!(error = %e, "camera refused the frame rate; using its own");
        }
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, 4)?;
        stream.set_timeout(Duration::from_secs(2));
        Ok(Open {
            stream,
            _device: device,
            format,
            width: got.width,
            height: got.height,
        })
    }

    fn fail(&mut self, reason: String) -> SourceError {
        self.open = None;
        let attempts = match &self.state {
            CameraState::Retrying { attempts, .. } => attempts + 1,
            _ => 1,
        };
        let wait =
            (Duration::from_millis(250) * 2u32.saturating_pow(attempts.min(6))).min(MAX_BACKOFF);
        self.next_attempt = Instant::now() + wait;
        warn!(camera = %self.path.display(), %reason, attempts, retry_in = ?wait, "camera unavailable");
        self.state = CameraState::Retrying {
            reason: reason.clone(),
            attempts,
        };
        SourceError::Image {
            path: self.path.clone(),
            message: reason,
        }
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.open.is_none() {
            let now = Instant::now();
            if self.next_attempt > now {
                std::thread::sleep(self.next_attempt - now);
            }
            match self.try_open() {
                Ok(open) => {
                    info!(camera = %self.path.display(), width = open.width, height = open.height, format = ?open.format, "camera streaming");
                    self.open = Some(open);
                    self.state = CameraState::Streaming;
                }
                Err(e) => return Err(self.fail(e.to_string())),
            }
        }
        let Some(open) = self.open.as_mut() else {
            return Err(self.fail("camera not open".into()));
        };
        let (format, width, height) = (open.format, open.width, open.height);
        let decoded = match open.stream.next() {
            Ok((buf, meta)) => {
                let used = (meta.bytesused as usize).min(buf.len());
                let used = if used == 0 { buf.len() } else { used };
                pixels::to_rgb(format, width, height, &buf[..used])
            }
            Err(e) => return Err(self.fail(format!("stream stopped: {e}"))),
        };
        match decoded {
            Ok(image) => {
                let frame = Frame::now(self.produced, image);
                self.produced += 1;
                Ok(Some(frame))
            }
            // A corrupt frame happens (USB hiccups); skip it without reopening.
            Err(e) => Err(SourceError::Image {
                path: self.path.clone(),
                message: e.to_string(),
            }),
        }
    }

    fn describe(&self) -> String {
        format!(
            "camera {} ({}x{} {:?} at {} fps)",
            self.path.display(),
            self.width,
            self.height,
            self.format,
            self.fps
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_camera_is_an_error_with_backoff_not_a_panic() {
        let mut cam = CameraSource::new(
            PathBuf::from("/dev/video-none"),
            640,
            480,
            15,
            PixelFormat::Mjpeg,
        );
        let err = cam.next_frame().err().expect("no camera here");
        assert!(err.to_string().contains("/dev/video-none"), "{err}");
        assert!(matches!(
            cam.state(),
            CameraState::Retrying { attempts: 1, .. }
        ));
        let start = Instant::now();
        assert!(cam.next_frame().is_err());
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "waits before retrying"
        );
        assert!(matches!(
            cam.state(),
            CameraState::Retrying { attempts: 2, .. }
        ));
    }
}
