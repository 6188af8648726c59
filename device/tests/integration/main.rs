//! The device crate's integration tests, one binary (as ripgrep has it): each module is one
//! concern, run against the shipped models and, where they need it, the FER2013 data in
//! `../shared/data` (skipped with a line when absent, an error under `XPRESSIFY_REQUIRE_DATA=1`).

mod bench_report;
mod demo_face;
mod display_golden;
mod face_following;
mod model_accuracy;
mod pipeline_frames;
mod reference_logits;
