//! Moods reach the store from a thread of their own, a burst per commit, so a slow disk costs
//! bigger commits, not a service that falls behind.
//!
//! Every commit is an fsync (the store runs `synchronous=FULL`): a millisecond on an SSD, far
//! more on a Pi's SD card or a disk busy with other work. Committed one by one by the service,
//! 50 devices at 10 Hz would ask for 500 fsyncs a second, more than an SD card gives: the
//! service would fall ever further behind the broker, late with every pick and command. Here
//! the service hands each mood over and goes on; the writer commits whatever gathered during
//! its last commit in one transaction. What waits meanwhile is held in memory (about 100 bytes
//! a mood: 50 KB for each second of stall at that rate), up to [`MOST_QUEUED`] moods (10 MB,
//! over three minutes of that load); past that a disk that does not come back costs moods,
//! counted as lost, never the box's memory. [`crate::mqtt_reader`] does the same for reading
//! the broker.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::warn;

use crate::store::{MoodRecord, Store};

/// The most moods one transaction takes: bounds how long a commit holds the store's lock, which
/// the HTTP API's readers share.
const MOST_PER_COMMIT: usize = 4096;

/// The most moods waiting for the disk.
pub const MOST_QUEUED: usize = 100_000;

/// Tries for one burst before its moods are given up: a busy or briefly full disk gets a few
/// seconds to recover.
const TRIES: u32 = 4;

/// What the writer did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Moods committed.
    pub stored: u64,
    /// Transactions that committed them.
    pub commits: u64,
    /// Moods given up: every try failed, or the queue was full.
    pub lost: u64,
}

/// The handle the service keeps: cheap to call, never waits on the disk.
pub struct MoodWriter {
    sender: Option<mpsc::SyncSender<MoodRecord>>,
    thread: Option<JoinHandle<WriterStats>>,
    /// Moods refused because [`MOST_QUEUED`] were waiting.
    overflowed: u64,
}

impl MoodWriter {
    /// Starts the writer thread for `store`.
    pub fn start(store: Arc<Store>) -> std::io::Result<MoodWriter> {
        Self::with_capacity(store, MOST_QUEUED)
    }

    /// As [`MoodWriter::start`], holding at most `capacity` moods for the disk.
    pub fn with_capacity(store: Arc<Store>, capacity: usize) -> std::io::Result<MoodWriter> {
        let (sender, receiver) = mpsc::sync_channel(capacity);
        let thread = std::thread::Builder::new()
            .name("mood-writer".into())
            .spawn(move || write_until_closed(&store, &receiver))?;
        Ok(MoodWriter {
            sender: Some(sender),
            thread: Some(thread),
            overflowed: 0,
        })
    }

    /// Queues `mood` for the next commit; never waits.
    pub fn record(&mut self, mood: MoodRecord) {
        match self.sender.as_ref().map(|s| s.try_send(mood)) {
            Some(Ok(())) => {}
            Some(Err(mpsc::TrySendError::Full(_))) => {
                self.overflowed += 1;
                if self.overflowed.is_power_of_two() {
                    warn!(
                        lost = self.overflowed,
                        queued = MOST_QUEUED,
                        "the disk is far behind: moods are being dropped"
                    );
                }
            }
            // Only if the thread is gone (it panicked, or `close` ran): say so, once a mood.
            _ => warn!("the mood writer has stopped; a mood was not recorded"),
        }
    }

    /// Commits every mood queued so far and stops the thread. Blocks for at most the last
    /// commit's tries; the companion calls it once, at shutdown.
    pub fn close(&mut self) -> WriterStats {
        drop(self.sender.take());
        let overflowed = std::mem::take(&mut self.overflowed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(stats)) => WriterStats {
                lost: stats.lost + overflowed,
                ..stats
            },
            Some(Err(_)) => {
                warn!("the mood writer panicked; moods queued at that time were not recorded");
                WriterStats::default()
            }
            None => WriterStats::default(),
        }
    }
}

impl Drop for MoodWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// The thread: waits for a mood, takes every other one already queued, commits them together.
fn write_until_closed(store: &Store, receiver: &mpsc::Receiver<MoodRecord>) -> WriterStats {
    let mut stats = WriterStats::default();
    let mut burst = Vec::with_capacity(MOST_PER_COMMIT);
    while let Ok(first) = receiver.recv() {
        burst.push(first);
        burst.extend(receiver.try_iter().take(MOST_PER_COMMIT - 1));
        commit(store, &burst, &mut stats);
        burst.clear();
    }
    stats
}

fn commit(store: &Store, burst: &[MoodRecord], stats: &mut WriterStats) {
    let mut wait = Duration::from_millis(250);
    for attempt in 1..=TRIES {
        match store.record_moods(burst) {
            Ok(()) => {
                stats.stored += burst.len() as u64;
                stats.commits += 1;
                return;
            }
            Err(e) if attempt < TRIES => {
                warn!(error = %e, moods = burst.len(), retry_in = ?wait, "cannot record moods yet");
                std::thread::sleep(wait);
                wait *= 2;
            }
            Err(e) => {
                warn!(error = %e, moods = burst.len(), "cannot record moods; they are lost");
                stats.lost += burst.len() as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpressify_protocol::Emotion;

    /// A store on disk whose write lock another connection holds (until it rolls back), as a
    /// stalled disk would.
    fn stalled_store() -> (tempfile::TempDir, Arc<Store>, rusqlite::Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("companion.sqlite");
        let store = Arc::new(Store::open(&path).expect("store"));
        let blocker = rusqlite::Connection::open(&path).expect("second connection");
        blocker
            .execute_batch("BEGIN IMMEDIATE")
            .expect("take the write lock");
        (dir, store, blocker)
    }

    fn mood(i: usize) -> MoodRecord {
        MoodRecord {
            device: format!("box{}", i % 5),
            emotion: Emotion::from_index(i % 7),
            confidence: (i % 100) as f32 / 100.0,
            at_ms: i as u64,
        }
    }

    /// The disk never comes back: the queue stops growing at its bound and the rest are
    /// counted as lost.
    #[test]
    fn a_full_queue_drops_and_counts_instead_of_growing() {
        let (_dir, store, blocker) = stalled_store();
        let mut writer = MoodWriter::with_capacity(store.clone(), 100).expect("writer");
        // The first mood takes the writer into its commit, where it waits for the lock.
        writer.record(mood(0));
        std::thread::sleep(Duration::from_millis(200));
        for i in 1..1_000 {
            writer.record(mood(i));
        }
        blocker.execute_batch("ROLLBACK").expect("release the lock");
        let stats = writer.close();
        assert_eq!(
            (stats.stored, stats.lost),
            (1 + 100, 1_000 - 1 - 100),
            "the one in the commit and a full queue are kept, the rest dropped"
        );
    }

    #[test]
    fn every_mood_is_stored_by_close() {
        let store = Arc::new(Store::in_memory().expect("store"));
        let mut writer = MoodWriter::start(store.clone()).expect("writer");
        for i in 0..1_000 {
            writer.record(mood(i));
        }
        let stats = writer.close();
        assert_eq!(stats.stored, 1_000);
        assert_eq!(stats.lost, 0);
        assert_eq!(store.mood_count().expect("count"), 1_000);
        let newest = store.recent_moods(1).expect("read");
        assert_eq!(newest, vec![mood(999)], "kept in the order they came");
    }

    /// The disk stalls (another connection holds SQLite's write lock): recording does not
    /// wait, and what gathered meanwhile goes in a few big commits once the disk is free.
    #[test]
    fn a_stalled_disk_neither_blocks_the_caller_nor_loses_moods() {
        let (_dir, store, blocker) = stalled_store();

        let mut writer = MoodWriter::start(store.clone()).expect("writer");
        let started = std::time::Instant::now();
        for i in 0..10_000 {
            writer.record(mood(i));
        }
        let handing_over = started.elapsed();
        // The writer now waits in SQLite's busy handler (the store allows 5 s).
        std::thread::sleep(Duration::from_millis(300));
        blocker.execute_batch("ROLLBACK").expect("release the lock");

        let stats = writer.close();
        assert!(
            handing_over < Duration::from_millis(250),
            "recording waited on the disk: {handing_over:?}"
        );
        assert_eq!(stats.stored, 10_000);
        assert_eq!(stats.lost, 0);
        // The first commit may hold a few moods; everything else gathered during the stall.
        assert!(
            stats.commits <= 2 + 10_000 / MOST_PER_COMMIT as u64,
            "{stats:?}"
        );
        assert_eq!(store.mood_count().expect("count"), 10_000);
    }
}
