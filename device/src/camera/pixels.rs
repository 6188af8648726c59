//! Camera pixel formats to RGB: packed YUYV 4:2:2 and Motion-JPEG, the two formats USB
//! cameras offer. Pure functions on bytes, so they are tested on recorded frames without a
//! camera.

use image::RgbImage;
use thiserror::Error;

/// A format the V4L2 source can ask a camera for (`camera.format`: `"mjpeg"` or `"yuyv"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// Packed Y0 U Y1 V, 2 bytes per pixel (V4L2 `YUYV`).
    Yuyv,
    /// One JPEG per frame (V4L2 `MJPG`).
    Mjpeg,
}

impl PixelFormat {
    /// The V4L2 four-character code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Mjpeg => *b"MJPG",
        }
    }

    /// The format for a four-character code, if we can decode it.
    pub fn from_fourcc(code: [u8; 4]) -> Option<Self> {
        match &code {
            b"YUYV" => Some(PixelFormat::Yuyv),
            b"MJPG" => Some(PixelFormat::Mjpeg),
            _ => None,
        }
    }
}

/// A frame whose bytes do not make a picture.
#[derive(Debug, Error, PartialEq)]
pub enum PixelError {
    /// Fewer bytes than width × height needs.
    #[error("{format:?} frame of {width}x{height} needs {needed} bytes, got {got}")]
    Short {
        /// The format.
        format: PixelFormat,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Bytes needed.
        needed: usize,
        /// Bytes received.
        got: usize,
    },
    /// YUYV needs an even width.
    #[error("YUYV frames need an even width, got {0}")]
    OddWidth(u32),
    /// The JPEG decoder refused the frame.
    #[error("corrupt MJPEG frame: {0}")]
    Jpeg(String),
}

/// Decodes one frame. `width`/`height` are the negotiated size (MJPEG carries its own).
pub fn to_rgb(
    format: PixelFormat,
    width: u32,
    height: u32,
    bytes: &[u8],
) -> Result<RgbImage, PixelError> {
    match format {
        PixelFormat::Yuyv => yuyv_to_rgb(width, height, bytes),
        PixelFormat::Mjpeg => image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
            .map(|img| img.to_rgb8())
            .map_err(|e| PixelError::Jpeg(e.to_string())),
    }
}

/// BT.601 limited-range YUYV to RGB.
pub fn yuyv_to_rgb(width: u32, height: u32, bytes: &[u8]) -> Result<RgbImage, PixelError> {
    if !width.is_multiple_of(2) {
        return Err(PixelError::OddWidth(width));
    }
    let needed = width as usize * height as usize * 2;
    if bytes.len() < needed {
        return Err(PixelError::Short {
            format: PixelFormat::Yuyv,
            width,
            height,
            needed,
            got: bytes.len(),
        });
    }
    let mut rgb = Vec::with_capacity(needed / 2 * 3);
    for quad in bytes[..needed].chunks_exact(4) {
        let (u, v) = (f32::from(quad[1]) - 128.0, f32::from(quad[3]) - 128.0);
        for y in [quad[0], quad[2]] {
            let c = 1.164 * (f32::from(y) - 16.0);
            let px = [c + 1.596 * v, c - 0.392 * u - 0.813 * v, c + 2.017 * u];
            rgb.extend(px.map(|p| p.round().clamp(0.0, 255.0) as u8));
        }
    }
    RgbImage::from_raw(width, height, rgb).ok_or(PixelError::Short {
        format: PixelFormat::Yuyv,
        width,
        height,
        needed,
        got: bytes.len(),
    })
}

/// RGB to BT.601 limited-range YUYV (chroma of each pixel pair averaged): how a camera
/// delivers a scene, for recording test frames.
pub fn rgb_to_yuyv(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::with_capacity(img.width() as usize * img.height() as usize * 2);
    for row in img.rows() {
        let px: Vec<[f32; 3]> = row.map(|p| p.0.map(f32::from)).collect();
        for pair in px.chunks(2) {
            let yuv = |[r, g, b]: [f32; 3]| {
                (
                    16.0 + 0.257 * r + 0.504 * g + 0.098 * b,
                    128.0 - 0.148 * r - 0.291 * g + 0.439 * b,
                    128.0 + 0.439 * r - 0.368 * g - 0.071 * b,
                )
            };
            let (y0, u0, v0) = yuv(pair[0]);
            let (y1, u1, v1) = yuv(*pair.get(1).unwrap_or(&pair[0]));
            let b = |v: f32| v.round().clamp(0.0, 255.0) as u8;
            out.extend([b(y0), b((u0 + u1) / 2.0), b(y1), b((v0 + v1) / 2.0)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> RgbImage {
        RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
        })
    }

    fn max_diff(a: &RgbImage, b: &RgbImage) -> u8 {
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(255)
    }

    #[test]
    fn yuyv_frames_decode_to_the_scene() {
        let img = scene();
        let bytes = rgb_to_yuyv(&img);
        assert_eq!(bytes.len(), 64 * 48 * 2);
        let back = to_rgb(PixelFormat::Yuyv, 64, 48, &bytes).expect("decodes");
        // Chroma is shared by pixel pairs; the smooth scene loses little.
        assert!(
            max_diff(&img, &back) <= 6,
            "max diff {}",
            max_diff(&img, &back)
        );
    }

    #[test]
    fn mjpeg_frames_decode_to_the_scene() {
        let img = scene();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&img)
            .expect("encode");
        let back = to_rgb(PixelFormat::Mjpeg, 64, 48, &jpeg).expect("decodes");
        assert_eq!(back.dimensions(), (64, 48));
        assert!(
            max_diff(&img, &back) <= 24,
            "max diff {}",
            max_diff(&img, &back)
        );
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert!(matches!(
            to_rgb(PixelFormat::Yuyv, 64, 48, &[0; 100]),
            Err(PixelError::Short { .. })
        ));
        assert_eq!(
            to_rgb(PixelFormat::Yuyv, 3, 2, &[0; 12]).err(),
            Some(PixelError::OddWidth(3))
        );
        assert!(matches!(
            to_rgb(PixelFormat::Mjpeg, 64, 48, b"\xff\xd8garbage"),
            Err(PixelError::Jpeg(_))
        ));
        assert_eq!(PixelFormat::from_fourcc(*b"MJPG"), Some(PixelFormat::Mjpeg));
        assert_eq!(PixelFormat::from_fourcc(*b"NV12"), None);
    }
}
