//! Forgetting on a schedule: the store keeps `store.keep_days` of history and at most
//! `store.max_rows` moods and picks, so a box that runs for years neither fills its SD card
//! nor slows its start (SQLite's `quick_check` reads the whole file at every open).
//!
//! Pruning runs at start and then every hour, off the async threads, in batches of
//! [`crate::store::PRUNE_BATCH`] rows, so the service and the page wait at most one batch.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::clock::now_ms;
use crate::store::{Pruned, Store};

/// How often the store is pruned.
pub const EVERY: Duration = Duration::from_secs(3600);

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Days of history kept (`store.keep_days`; 0: no age limit).
    pub keep_days: u32,
    /// Moods, and picks, kept at most (`store.max_rows`).
    pub max_rows: u64,
}

impl Retention {
    /// Prunes `store` once, now.
    pub fn prune(&self, store: &Store) -> Result<Pruned, crate::store::StoreError> {
        let before_ms = if self.keep_days == 0 {
            0
        } else {
            now_ms().saturating_sub(u64::from(self.keep_days) * DAY_MS)
        };
        store.prune(before_ms, self.max_rows)
    }

    /// Prunes `store` now and every [`EVERY`] until dropped.
    pub async fn run(self, store: Arc<Store>) {
        loop {
            let s = store.clone();
            let started = std::time::Instant::now();
            match tokio::task::spawn_blocking(move || self.prune(&s)).await {
                Ok(Ok(p)) if p != Pruned::default() => info!(
                    moods = p.moods,
                    picks = p.picks,
                    other = p.other,
                    took_ms = started.elapsed().as_millis() as u64,
                    keep_days = self.keep_days,
                    max_rows = self.max_rows,
                    "pruned the store"
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => warn!(error = %e, "cannot prune the store; trying again in an hour"),
                Err(e) => warn!(error = %e, "the pruning task failed"),
            }
            tokio::time::sleep(EVERY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MoodRecord, PickRecord};
    use xpressify_protocol::{Emotion, Track};

    fn mood(at_ms: u64) -> MoodRecord {
        MoodRecord {
            device: "kitchen".into(),
            emotion: Some(Emotion::Happy),
            confidence: 0.9,
            at_ms,
        }
    }

    fn pick(store: &Store, at_ms: u64) -> i64 {
        let p = store
            .record_pick(PickRecord {
                room: String::new(),
                id: 0,
                device: "kitchen".into(),
                mood: Emotion::Happy,
                query: "q".into(),
                variant: "v".into(),
                genre: String::new(),
                artist_arm: String::new(),
                track: Track::Youtube {
                    video_id: "dQw4w9WgXcQ".into(),
                },
                title: "t".into(),
                artist: "a".into(),
                at_ms,
                reason: String::new(),
            })
            .expect("pick");
        store
            .record_feedback(p.id, crate::store::Feedback::Like, at_ms)
            .expect("feedback");
        store.start_play(p.id, "web", at_ms).expect("play");
        p.id
    }

    /// Old history goes, recent history stays whole, and the caps keep the newest rows.
    #[test]
    fn old_rows_and_rows_past_the_cap_go_the_rest_stays() {
        let store = Store::in_memory().expect("store");
        let now = now_ms();
        let old = now - 400 * DAY_MS;
        let recent = now - DAY_MS;
        let moods: Vec<_> = (0..12_000)
            .map(|i| mood(if i < 7_000 { old + i } else { recent + i }))
            .collect();
        store.record_moods(&moods).expect("moods");
        let old_pick = pick(&store, old);
        let new_pick = pick(&store, recent);

        let keep = Retention {
            keep_days: 365,
            max_rows: 1_000_000,
        };
        let pruned = keep.prune(&store).expect("prune");
        assert_eq!((pruned.moods, pruned.picks), (7_000, 1));
        assert_eq!(store.mood_count().expect("count"), 5_000);
        assert!(store.pick(old_pick).expect("read").is_none());
        assert!(store.pick(new_pick).expect("read").is_some());
        assert_eq!(
            store.feedback_since_pick(0).expect("feedback").len(),
            1,
            "the old pick's feedback went with it"
        );

        let capped = Retention {
            keep_days: 0,
            max_rows: 1_500,
        };
        let pruned = capped.prune(&store).expect("prune");
        assert_eq!(pruned.moods, 3_500);
        let newest = store.recent_moods(1_500).expect("read");
        assert_eq!(newest.len(), 1_500);
        assert_eq!(newest[0], moods[11_999], "the newest are kept");
        assert_eq!(capped.prune(&store).expect("again"), Pruned::default());
    }
}
