//! Per-face latency of the emotion classifier in tract, single-threaded, for the shipped
//! int8 model and its float twin at batch sizes 1 and 8, and for the fast model (what
//! `model = "fast"` runs, one face at a time) at batch 1. Faces are real PrivateTest images
//! when ../shared is present, else a fixed gradient (latency does not depend on content).
//!
//! `XPRESSIFY_BENCH_MODELS=a.onnx,b.onnx` times further models with the same contract at
//! batch 1 — how the model card's comparison of architectures gets its latency column. Give
//! absolute paths: cargo runs benchmarks in `device/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use xpressify_device::bench::fer2013::{self, Split};
use xpressify_device::vision::classify::{EmotionClassifier, FACE_PIXELS, FaceCrop};
use xpressify_device::vision::models::EMOTION_FAST;

fn faces(n: usize) -> Vec<FaceCrop> {
    match fer2013::load(&fer2013::default_path(), Split::PrivateTest) {
        Ok(samples) => samples.into_iter().take(n).map(|s| s.face).collect(),
        Err(_) => (0..n)
            .map(|k| std::array::from_fn(|i| ((i + k * 7) % 256) as u8))
            .collect::<Vec<[u8; FACE_PIXELS]>>(),
    }
}

/// The shipped pair at batches 1 and 8, the fast model at batch 1, then any extra models at
/// batch 1.
fn models_to_time() -> Vec<(PathBuf, Vec<usize>)> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut list: Vec<(PathBuf, Vec<usize>)> = ["emotion.onnx", "emotion-float.onnx"]
        .iter()
        .map(|f| (models.join(f), vec![1, 8]))
        .collect();
    list.push((models.join(EMOTION_FAST.name), vec![1]));
    if let Ok(extra) = std::env::var("XPRESSIFY_BENCH_MODELS") {
        list.extend(
            extra
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| (PathBuf::from(p.trim()), vec![1])),
        );
    }
    list
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    group.measurement_time(Duration::from_secs(5));
    for (path, batches) in models_to_time() {
        let model = EmotionClassifier::load(&path)
            .unwrap_or_else(|e| panic!("{} does not load: {e:#}", path.display()));
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        for batch in batches {
            let input = faces(batch);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new(&name, batch), &input, |b, input| {
                b.iter(|| model.logits(input).expect("inference"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
