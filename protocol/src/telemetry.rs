//! One Prometheus recorder per process (the `telemetry` feature): the device and the
//! companion record their figures through the `metrics` facade, and their `/metrics` answer
//! what this recorder renders. The one-box binary runs both halves in one process, so they
//! share it and either listener shows both.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in seconds: from a millisecond (a face's classification, a local pick)
/// to 10 s (a slow search with retries, a TV waking up).
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the recorder the first time (later calls return what the first did); the error
/// says why there is none (another recorder was installed first).
pub fn install() -> Result<(), String> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// Every figure in Prometheus' text format (version 0.0.4); `None` before [`install`] worked.
pub fn render() -> Option<String> {
    HANDLE
        .get()
        .and_then(|h| h.as_ref().ok())
        .map(PrometheusHandle::render)
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
