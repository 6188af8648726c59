//! Per-face latency of the emotion classifier in tract, single-threaded, for the shipped
//! int8 model and its float twin, at batch sizes 1 and 8. Faces are real PrivateTest images
//! when ../shared is present, else a fixed gradient (latency does not depend on content).

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use xpressify_device::classify::{EmotionClassifier, FACE_PIXELS, FaceCrop};
use xpressify_device::fer2013::{self, Split};

fn faces(n: usize) -> Vec<FaceCrop> {
    match fer2013::load(&fer2013::default_path(), Split::PrivateTest) {
        Ok(samples) => samples.into_iter().take(n).map(|s| s.face).collect(),
        Err(_) => (0..n)
            .map(|k| std::array::from_fn(|i| ((i + k * 7) % 256) as u8))
            .collect::<Vec<[u8; FACE_PIXELS]>>(),
    }
}

fn bench(c: &mut Criterion) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut group = c.benchmark_group("classify");
    group.measurement_time(Duration::from_secs(5));
    for file in ["emotion.onnx", "emotion-float.onnx"] {
        let model = EmotionClassifier::load(&models.join(file)).expect("model loads");
        for batch in [1usize, 8] {
            let input = faces(batch);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new(file, batch), &input, |b, input| {
                b.iter(|| model.logits(input).expect("inference"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
