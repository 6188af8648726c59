//! The benchmark mode times every stage on real frames with the real models.

use xpressify_device::bench;
use xpressify_device::bench::fer2013;
use xpressify_device::vision::analyze::Analyzer;
use xpressify_device::vision::classify::ClassifierConfig;
use xpressify_device::vision::detect::DetectorConfig;

#[test]
fn reports_every_stage_on_real_frames() {
    if fer2013::path_for_test("reports_every_stage_on_real_frames").is_none() {
        return;
    }
    let analyzer = Analyzer::load(
        &DetectorConfig {
            full_scan_every: 2,
            ..DetectorConfig::default()
        },
        &ClassifierConfig {
            ..ClassifierConfig::default()
        },
    )
    .expect("models load");
    let frames = bench::synthetic_frames(3).expect("frames from FER2013");
    assert_eq!(frames.len(), 3);
    let report = bench::run(&analyzer, frames, 2).expect("bench runs");
    assert_eq!(report.frames, 6);
    assert_eq!((report.width, report.height), (640, 480));
    let stages: Vec<&str> = report.stages.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        [
            "decode (MJPEG)",
            "detect",
            "detect: full frame",
            "detect: near last faces",
            "classify",
            "track",
            "total"
        ]
    );
    // One person drifting through three frames, followed; the whole frame is scanned every
    // second frame as configured, so half of the six timed frames.
    assert!(
        (report.full_scan_share - 0.5).abs() < 1e-9,
        "full scans {}",
        report.full_scan_share
    );
    assert!(
        report.faces_per_frame >= 0.9,
        "faces per frame {}",
        report.faces_per_frame
    );
    let total = &report.stages[6];
    assert!(total.median_ms > 0.0 && total.p95_ms >= total.median_ms);
    assert!(report.fps > 0.0);
    assert!(report.peak_rss_mib.is_some_and(|m| m > 1.0));
    assert!(
        report
            .rss_mib
            .is_some_and(|m| m > 1.0 && m <= report.peak_rss_mib.unwrap_or(0.0))
    );
}

/// `bench --sequences`: one expression clip through the reading before (both views, every
/// frame) and the default (alternating views, 8 a second), on the same frames.
#[test]
fn expression_clips_compare_ways_of_reading() {
    use xpressify_device::bench::sequence::{self, SETUPS};
    if fer2013::path_for_test("expression_clips_compare_ways_of_reading").is_none() {
        return;
    }
    let analyzer = Analyzer::load(&DetectorConfig::default(), &ClassifierConfig::default())
        .expect("models load");
    let samples =
        fer2013::load(&fer2013::default_path(), fer2013::Split::PrivateTest).expect("FER2013");
    let mut done = vec![];
    let report = sequence::run(&analyzer, &samples, 1, &[SETUPS[0], SETUPS[2]], |n| {
        done.push(n)
    })
    .expect("the clip runs");
    assert_eq!(done, [1]);
    assert_eq!(
        (report.clips, report.frames_per_clip, report.switches),
        (1, 270, 2)
    );
    // The person is found in every frame and the head beside them, turned away, is not read.
    let readable = report.faces_per_frame - report.unreadable_per_frame;
    assert!(
        (0.95..=1.05).contains(&readable),
        "readable faces per frame {readable} ({report:?})"
    );
    let (before, default) = (&report.setups[0], &report.setups[1]);
    assert!((before.passes_per_frame - 2.0 * readable).abs() < 1e-9);
    // 8 readings a second of a 30 fps clip, one view each: under a sixth of the passes.
    assert!(
        default.passes_per_frame < before.passes_per_frame / 6.0,
        "{default:?}"
    );
    assert!(default.classify_ms_per_frame < before.classify_ms_per_frame);
    for setup in [before, default] {
        assert!((0.0..=1.0).contains(&setup.announced_accuracy), "{setup:?}");
        assert!(setup.switches_made <= 2);
    }
}
