//! `xpressify-companion bench`: how long a mood event takes to become a decided pick when the
//! search is a cache hit (the common case: the default mapping has 17 phrases, each cached
//! for days), on a real SQLite file with the service's durability settings.
//!
//! Every phrase of the default mapping is put in the YouTube cache first; the API's address
//! is a closed loopback port, so a cache miss would show up as a failed search (counted, and
//! reported as `misses`) instead of silently timing the network.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use xpressify_protocol::{Emotion, Track};

use crate::clock::now_ms;
use crate::mapping::{Mapping, Query};
use crate::recommend::{RecommendOptions, Recommender};
use crate::source::{Candidate, YoutubeConfig, YoutubeSource};
use crate::store::Store;

/// The figures `bench` prints.
#[derive(Debug, Serialize)]
pub struct PickBench {
    /// Mood events timed.
    pub events: usize,
    /// Median mood event → pick recorded, in milliseconds.
    pub median_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Searches that missed the cache (should be 0).
    pub misses: u32,
    /// The process's peak resident memory, in MiB.
    pub peak_rss_mib: f64,
}

/// The process's peak resident set size in MiB (`VmHWM`), or 0 where /proc is missing.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Removes the bench's database files when done, whatever happens.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Times `events` mood events (cycling through the seven emotions).
pub async fn pick_latency(events: usize) -> anyhow::Result<PickBench> {
    let db =
        TempDb(std::env::temp_dir().join(format!("xpressify-bench-{}.sqlite", std::process::id())));
    let store = Arc::new(Store::open(&db.0).context("opening the bench store")?);
    let youtube = YoutubeSource::new(
        YoutubeConfig {
            api_key: "bench".into(),
            // Port 9 (discard) is closed on loopback: a miss fails at once.
            api_base_url: "http://127.0.0.1:9/youtube/v3".into(),
            retries: 0,
            ..YoutubeConfig::default()
        },
        store.clone(),
    )?;
    let mapping = Mapping::default();
    for mood in Emotion::ALL {
        for phrase in mapping.phrases(mood) {
            let query = Query {
                mood,
                target: mapping.target_mood(mood),
                place: mapping.place(mood),
                variant: phrase.clone(),
                genre: None,
                artist: None,
                language: None,
            };
            let results: Vec<Candidate> = (0..15)
                .map(|i| Candidate {
                    track: Track::Youtube {
                        video_id: format!(
                            "{:0>11}",
                            format!("{}{i}", mood.index() * 100 + phrase.len())
                        ),
                    },
                    title: format!("{phrase} {i}"),
                    artist: "Bench".into(),
                })
                .collect();
            store.cache_search(
                &youtube.cache_key(&query),
                &serde_json::to_string(&results)?,
                now_ms(),
            )?;
        }
    }
    let recommender = Recommender::new(
        store.clone(),
        Some(youtube),
        None,
        mapping,
        RecommendOptions {
            prefer_local: false,
            avoid_recent: 20,
            choose_from_top: 5,
        },
        Some(1),
    )?;
    let mut times = Vec::with_capacity(events);
    for i in 0..events {
        let mood = Emotion::ALL[i % Emotion::COUNT];
        let t0 = Instant::now();
        recommender
            .pick("home", "bench", mood, now_ms(), true)
            .await?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Ok(PickBench {
        events,
        median_ms: at(0.5),
        p95_ms: at(0.95),
        max_ms: at(1.0),
        misses: store.searches_since(0)?,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// The figures `bench --store-days N` prints: what a long-running box's store costs.
#[derive(Debug, Serialize)]
pub struct StoreBench {
    /// Moods in the store (one a minute for the days asked).
    pub moods: u64,
    /// The file's size, in MiB.
    pub file_mib: f64,
    /// Opening it, with the start-up `quick_check`, in milliseconds.
    pub open_ms: f64,
    /// Pruning it to `store.keep_days` = 365, in milliseconds.
    pub prune_ms: f64,
    /// Moods pruned.
    pub pruned: u64,
}

/// Builds a store with a mood a minute for `days` days, then times its opening (with the
/// start-up `quick_check`) and one pruning to the default year.
pub fn store_open(days: u32) -> anyhow::Result<StoreBench> {
    let db = TempDb(std::env::temp_dir().join(format!(
        "xpressify-bench-store-{}.sqlite",
        std::process::id()
    )));
    let minutes = u64::from(days) * 24 * 60;
    let now = now_ms();
    {
        let store = Store::open(&db.0).context("creating the bench store")?;
        let mut batch = Vec::with_capacity(10_000);
        for m in 0..minutes {
            batch.push(crate::store::MoodRecord {
                device: "kitchen".into(),
                emotion: Some(Emotion::ALL[(m % 7) as usize]),
                confidence: 0.8,
                at_ms: now - (minutes - m) * 60_000,
            });
            if batch.len() == batch.capacity() {
                store.record_moods(&batch)?;
                batch.clear();
            }
        }
        store.record_moods(&batch)?;
    }
    let started = Instant::now();
    let store = Store::open(&db.0).context("reopening the bench store")?;
    let open_ms = started.elapsed().as_secs_f64() * 1000.0;
    let moods = store.mood_count()?;
    let file_mib = std::fs::metadata(&db.0).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
    let started = Instant::now();
    let pruned = crate::config::StoreConfig::default()
        .retention()
        .prune(&store)?;
    Ok(StoreBench {
        moods,
        file_mib,
        open_ms,
        prune_ms: started.elapsed().as_secs_f64() * 1000.0,
        pruned: pruned.moods,
    })
}
