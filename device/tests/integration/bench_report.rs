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
