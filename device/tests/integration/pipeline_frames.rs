//! Camera-like frames built at test time from FER2013 PrivateTest faces (upscaled, placed on a
//! 640×480 background at varied positions and brightness): the detector must find the face,
//! the crop must be the face, and the emotions must agree with the labels about as often as
//! the model does on the original crops.

use image::{Rgb, RgbImage, imageops};
use xpressify_device::bench::fer2013::{self, Sample, Split};
use xpressify_device::vision::analyze::Analyzer;
use xpressify_device::vision::classify::ClassifierConfig;
use xpressify_device::vision::classify::{FaceCrop, argmax};
use xpressify_device::vision::crop::crop_face;
use xpressify_device::vision::detect::DetectorConfig;

/// Faces placed in frames: 240, or `XP_PIPELINE_FACES` (`cross/test.sh` uses fewer under qemu,
/// where each face costs seconds).
fn faces() -> usize {
    std::env::var("XP_PIPELINE_FACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(240)
}

/// Places `face` (48×48) at `size`×`size` pixels, position and brightness varied by `k`.
fn frame(face: &FaceCrop, k: usize) -> (RgbImage, (u32, u32, u32)) {
    let size = 120 + (k % 5) as u32 * 40; // 120..280 px
    let gain = [0.7f32, 1.0, 1.3][k % 3];
    let gray = image::GrayImage::from_raw(48, 48, face.to_vec()).unwrap_or_default();
    let big = imageops::resize(&gray, size, size, imageops::FilterType::CatmullRom);
    let bg = Rgb([(60 + k % 7 * 20) as u8, (80 + k % 5 * 15) as u8, 100]);
    let mut img = RgbImage::from_pixel(640, 480, bg);
    let x = (k as u32 * 37) % (640 - size);
    let y = (k as u32 * 53) % (480 - size);
    for (px, py, p) in big.enumerate_pixels() {
        let v = (f32::from(p.0[0]) * gain).clamp(0.0, 255.0) as u8;
        img.put_pixel(x + px, y + py, Rgb([v, v, v]));
    }
    (img, (x, y, size))
}

fn correlation(a: &FaceCrop, b: &FaceCrop) -> f64 {
    let mean = |v: &FaceCrop| v.iter().map(|&p| f64::from(p)).sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        num += x * y;
        da += x * x;
        db += y * y;
    }
    num / (da.sqrt() * db.sqrt()).max(1e-9)
}

#[test]
fn pipeline_finds_and_classifies_faces_in_frames() {
    if fer2013::path_for_test("pipeline_finds_and_classifies_faces_in_frames").is_none() {
        return;
    }
    let samples: Vec<Sample> = fer2013::load(&fer2013::default_path(), Split::PrivateTest)
        .expect("FER2013 from ../shared/data")
        .into_iter()
        .step_by(3589 / faces())
        .take(faces())
        .collect();
    let detector = DetectorConfig {
        ..DetectorConfig::default()
    };
    let classifier = ClassifierConfig {
        ..ClassifierConfig::default()
    };
    let analyzer = Analyzer::load(&detector, &classifier).expect("models load");
    let (mut found, mut direct_ok, mut pipeline_ok, mut corr_sum) = (0usize, 0usize, 0usize, 0.0);
    for (k, s) in samples.iter().enumerate() {
        let (img, (x, y, size)) = frame(&s.face, k);
        let faces = analyzer.analyse(&img).expect("analyse");
        let Some(best) = faces.first() else { continue };
        let (cx, cy) = (
            best.face.x + best.face.w / 2.0,
            best.face.y + best.face.h / 2.0,
        );
        let inside = |c: f32, lo: u32| c > lo as f32 && c < (lo + size) as f32;
        if !(inside(cx, x) && inside(cy, y)) {
            continue;
        }
        found += 1;
        let direct = analyzer.classifier().classify(&[s.face]).expect("classify")[0];
        direct_ok += usize::from(argmax(&direct) == s.emotion);
        corr_sum += correlation(&crop_face(&img, &best.face), &s.face);
        pipeline_ok += usize::from(best.probabilities.is_some_and(|p| argmax(&p) == s.emotion));
    }
    let found_rate = found as f64 / samples.len() as f64;
    // Accuracies over the faces found, directly on the 48×48 original and through the frame.
    let direct_acc = direct_ok as f64 / found.max(1) as f64;
    let pipeline_acc = pipeline_ok as f64 / found.max(1) as f64;
    let corr = corr_sum / found.max(1) as f64;
    eprintln!(
        "{found}/{} faces found; crop correlation {corr:.3}; accuracy direct {direct_acc:.3}, through the pipeline {pipeline_acc:.3}",
        samples.len()
    );
    // Upscaled 48-pixel faces are blurry; the smallest (120 px) are the ones YuNet misses.
    assert!(
        found_rate >= 0.85,
        "only {found_rate:.3} of the faces were found"
    );
    // FER2013's own framing varies by ±16 %, so crops never match the originals exactly;
    // a crop of the wrong place correlates near 0.
    assert!(
        corr >= 0.4,
        "crops do not look like the faces (correlation {corr:.3})"
    );
    assert!(
        pipeline_acc >= direct_acc - 0.08,
        "pipeline {pipeline_acc:.3} is far below the model on the original crops {direct_acc:.3}"
    );
}
