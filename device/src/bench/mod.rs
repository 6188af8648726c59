//! `xpressify-device bench`: per-stage latency of the vision loop on real frames — decode
//! (MJPEG, as a camera delivers), detect, classify, track — frames per second and peak
//! memory, on one thread. The figures in docs/performance.md come from here. `fer2013` reads
//! the data set the benchmark's frames (and the model tests) are made from.

pub mod fer2013;
pub mod readings;
pub mod sequence;

use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;

use crate::camera::pixels::{self, PixelFormat};
use crate::vision::analyze::Analyzer;
use crate::vision::follow::Scan;
use crate::vision::mood::{MoodTracker, TrackerConfig};
use crate::vision::pipeline::readings;

/// Time between two frames of a 30 frames-a-second camera.
pub const FRAME_TIME: Duration = Duration::from_nanos(1_000_000_000 / 30);

/// Latency statistics of one stage, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct StageStats {
    /// The stage.
    pub stage: &'static str,
    /// Median.
    pub median_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Frames timed (after one warm-up pass).
    pub frames: usize,
    /// Frame size.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Faces found per frame, on average.
    pub faces_per_frame: f64,
    /// Passes of the emotion model per frame, on average: a face is read when it is new or
    /// due a reading (`classifier.reads_per_second`), in one view or both (`mirror`).
    pub passes_per_frame: f64,
    /// decode, detect (all frames, then the full scans and the searches near the last faces
    /// apart), classify, track, total.
    pub stages: Vec<StageStats>,
    /// Share of frames whose faces needed a whole-frame scan.
    pub full_scan_share: f64,
    /// 1000 / median total.
    pub fps: f64,
    /// Resident memory after the timed passes (VmRSS), MiB, when only the models, the
    /// JPEG-encoded frames and the loop's buffers are held, as in the daemon; `None` off Linux.
    pub rss_mib: Option<f64>,
    /// Peak resident memory of the process (VmHWM), MiB: includes building the test frames
    /// (the FER2013 file and raw RGB frames), which the daemon never holds.
    pub peak_rss_mib: Option<f64>,
}

fn stats(stage: &'static str, mut v: Vec<Duration>) -> StageStats {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let n = v.len().max(1);
    StageStats {
        stage,
        median_ms: v.get(n / 2).copied().map_or(0.0, ms),
        p95_ms: v.get((n * 95 / 100).min(n - 1)).copied().map_or(0.0, ms),
        // An empty stage (no full scans, say) reads 0, not the -0.0 of an empty float sum.
        mean_ms: v.iter().map(|d| ms(*d)).fold(0.0, |a, b| a + b) / n as f64,
    }
}

/// Peak resident set size (VmHWM) from /proc/self/status.
pub fn peak_rss_mib() -> Option<f64> {
    proc_status_mib("VmHWM:")
}

/// Current resident set size (VmRSS) from /proc/self/status.
pub fn rss_mib() -> Option<f64> {
    proc_status_mib("VmRSS:")
}

fn proc_status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Times `rounds` passes over `frames` (each JPEG-encoded first, as a camera sends MJPEG;
/// the raw frames are dropped before timing so memory is measured as the daemon uses it).
pub fn run(
    analyzer: &Analyzer,
    frames: Vec<RgbImage>,
    rounds: usize,
) -> anyhow::Result<BenchReport> {
    let Some(first) = frames.first() else {
        anyhow::bail!("no frames to time");
    };
    let (width, height) = first.dimensions();
    let mut jpegs = Vec::new();
    for f in frames {
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 85).encode_image(&f)?;
        jpegs.push(buf);
    }
    let mut tracker = MoodTracker::new(TrackerConfig::default());
    let mut follower = analyzer.follower();
    let mut memory = analyzer.reading_memory();
    let (mut frame_clock, mut passes) = (Duration::ZERO, 0usize);
    let (mut decode, mut detect, mut classify, mut track, mut total) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut detect_full, mut detect_near) = (vec![], vec![]);
    let mut faces_seen = 0usize;
    for round in 0..=rounds {
        for jpeg in &jpegs {
            let t0 = Instant::now();
            let img = pixels::to_rgb(PixelFormat::Mjpeg, width, height, jpeg)?;
            let t1 = Instant::now();
            let (faces, scan) = follower.find(analyzer.detector(), &img)?;
            let t2 = Instant::now();
            // The frames' clock runs at 30 frames a second, as a camera's would.
            frame_clock += FRAME_TIME;
            let (faces, frame_passes) =
                analyzer.read_faces(&img, faces, &mut memory, frame_clock)?;
            let t3 = Instant::now();
            tracker.update_in_view(frame_clock, faces.len() as u32, &readings(&faces));
            let t4 = Instant::now();
            if round > 0 {
                faces_seen += faces.len();
                passes += frame_passes;
                decode.push(t1 - t0);
                detect.push(t2 - t1);
                match scan {
                    Scan::Full => detect_full.push(t2 - t1),
                    Scan::Near => detect_near.push(t2 - t1),
                }
                classify.push(t3 - t2);
                track.push(t4 - t3);
                total.push(t4 - t0);
            }
        }
    }
    let n = total.len();
    let full_scan_share = detect_full.len() as f64 / n.max(1) as f64;
    let total_stats = stats("total", total);
    Ok(BenchReport {
        frames: n,
        width,
        height,
        faces_per_frame: faces_seen as f64 / n.max(1) as f64,
        passes_per_frame: passes as f64 / n.max(1) as f64,
        fps: if total_stats.median_ms > 0.0 {
            1000.0 / total_stats.median_ms
        } else {
            0.0
        },
        stages: vec![
            stats("decode (MJPEG)", decode),
            stats("detect", detect),
            stats("detect: full frame", detect_full),
            stats("detect: near last faces", detect_near),
            stats("classify", classify),
            stats("track", track),
            total_stats,
        ],
        full_scan_share,
        rss_mib: rss_mib(),
        peak_rss_mib: peak_rss_mib(),
    })
}

/// A 640×480 frame of plain background with the 48×48 grey `face` upscaled to `side` pixels,
/// its top left at `at`: the recipe of every camera-like test frame.
pub fn face_on_background(face: &[u8], side: u32, at: (u32, u32)) -> RgbImage {
    let gray = image::GrayImage::from_raw(48, 48, face.to_vec()).unwrap_or_default();
    let big = image::imageops::resize(&gray, side, side, image::imageops::FilterType::CatmullRom);
    let mut img = RgbImage::from_pixel(640, 480, image::Rgb([70, 90, 80]));
    for (px, py, p) in big.enumerate_pixels() {
        img.put_pixel(at.0 + px, at.1 + py, image::Rgb([p.0[0]; 3]));
    }
    img
}

/// Frames a person stays in view in [`synthetic_frames`] (one second at 30 fps).
pub const FRAMES_PER_PERSON: usize = 30;

/// A camera-like 640×480 clip: FER2013 PrivateTest faces upscaled to 160–240 px on a plain
/// background, each in view for [`FRAMES_PER_PERSON`] frames while it drifts 2 px right and
/// 1 px down per frame, then cut to the next person elsewhere (the pipeline test's recipe,
/// in motion).
pub fn synthetic_frames(count: usize) -> anyhow::Result<Vec<RgbImage>> {
    let samples = crate::bench::fer2013::load(
        &crate::bench::fer2013::default_path(),
        crate::bench::fer2013::Split::PrivateTest,
    )?;
    let people = count.div_ceil(FRAMES_PER_PERSON).max(1);
    let step = (samples.len() / people).max(1);
    Ok((0..count)
        .filter_map(|i| {
            let (k, t) = (i / FRAMES_PER_PERSON, (i % FRAMES_PER_PERSON) as u32);
            let sample = samples.get(k * step)?;
            let size = 160 + (k % 3) as u32 * 40;
            let drift = FRAMES_PER_PERSON as u32 * 2;
            let at = (
                (k as u32 * 37) % (640 - size - drift) + 2 * t,
                (k as u32 * 53) % (480 - size - drift / 2) + t,
            );
            Some(face_on_background(&sample.face, size, at))
        })
        .collect())
}
