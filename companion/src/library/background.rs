//! The library inside `run`: the stored scans are played at once, and a thread of its own
//! rescans the folder at start and every `library.rescan_minutes`, handing the local source
//! each batch of newly placed tracks as it goes (a first scan of thousands of files takes
//! a while; the box plays what is placed so far meanwhile).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::{info, warn};
use xpressify_protocol::Emotion;

use super::scan::{ScanError, folder_key};
use super::{Place, ScanLine, ScanOptions, scan};
use crate::source::LocalCatalogue;
use crate::store::Store;

/// Placed tracks handed over at least this often during a scan…
const PUBLISH_EVERY: Duration = Duration::from_secs(30);
/// …or after this many new lines, whichever comes first.
const PUBLISH_LINES: usize = 50;

/// Each emotion's place, as a value the scan thread can keep.
#[derive(Debug, Clone, Copy)]
pub struct Places([Place; 7]);

impl Places {
    /// The places `place_of` gives now.
    pub fn from_fn(place_of: impl Fn(Emotion) -> Place) -> Places {
        Places(Emotion::ALL.map(place_of))
    }

    /// The place of `emotion`.
    pub fn of(&self, emotion: Emotion) -> Place {
        let i = Emotion::ALL
            .iter()
            .position(|e| *e == emotion)
            .unwrap_or_default();
        self.0[i]
    }
}

/// The running rescans; dropping it stops them (within a file's analysis).
pub struct Rescans {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Rescans {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Gives `catalogue` the stored scans of its folder, then starts rescanning it every
/// `rescan_minutes` (0: once).
pub fn start(
    catalogue: LocalCatalogue,
    store: Arc<Store>,
    options: ScanOptions,
    rescan_minutes: u32,
    places: Places,
) -> Result<Rescans, ScanError> {
    let folder = PathBuf::from(folder_key(catalogue.folder())?);
    let key = folder.to_string_lossy().into_owned();
    let stored: Vec<ScanLine> = store
        .library_scans(&key)?
        .into_values()
        .map(|s| s.line)
        .collect();
    catalogue.set_scanned(&stored, |e| places.of(e));
    info!(folder = %key, tracks = catalogue.tracks().len(), "music library (from the last scan)");
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name("library-scan".into())
        .spawn(move || {
            loop {
                rescan(&catalogue, &store, &folder, &options, &thread_stop, places);
                if rescan_minutes == 0 {
                    break;
                }
                let until = Instant::now() + Duration::from_secs(u64::from(rescan_minutes) * 60);
                while Instant::now() < until {
                    if thread_stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        })
        .map_err(|e| ScanError::Folder {
            folder: key,
            source: e,
        })?;
    Ok(Rescans {
        stop,
        thread: Some(thread),
    })
}

fn rescan(
    catalogue: &LocalCatalogue,
    store: &Store,
    folder: &std::path::Path,
    options: &ScanOptions,
    stop: &AtomicBool,
    places: Places,
) {
    let key = folder.to_string_lossy().into_owned();
    // What is playable while the scan runs: the stored scans, updated line by line.
    let mut latest: BTreeMap<String, ScanLine> = match store.library_scans(&key) {
        Ok(s) => s.into_iter().map(|(f, s)| (f, s.line)).collect(),
        Err(e) => {
            warn!(error = %e, "music library: cannot read the stored scans");
            BTreeMap::new()
        }
    };
    let mut seen = Vec::new();
    let (mut fresh, mut published) = (0, Instant::now());
    let result = scan(folder, store, options, stop, |line, progress| {
        latest.insert(line.file.clone(), line.clone());
        seen.push(line.clone());
        fresh += 1;
        if fresh >= PUBLISH_LINES || published.elapsed() >= PUBLISH_EVERY {
            let lines: Vec<ScanLine> = latest.values().cloned().collect();
            catalogue.set_scanned(&lines, |e| places.of(e));
            info!(
                done = progress.done,
                total = progress.total,
                "music library: scanning"
            );
            fresh = 0;
            published = Instant::now();
        }
    });
    match result {
        Ok(summary) => {
            // Only what this scan found: files removed since are no longer offered.
            let lines = if stop.load(Ordering::Relaxed) {
                latest.into_values().collect()
            } else {
                seen
            };
            catalogue.set_scanned(&lines, |e| places.of(e));
            info!(
                files = summary.files,
                analysed = summary.analysed,
                reused = summary.reused,
                unreadable = summary.failed,
                forgotten = summary.forgotten,
                tracks = catalogue.tracks().len(),
                files_per_second = format!("{:.1}", summary.files_per_second()),
                "music library scanned"
            );
            if summary.left_out > 0 {
                warn!(
                    left_out = summary.left_out,
                    "music library: more than {} audio files; the rest are left out",
                    super::scan::MAX_FILES
                );
            }
        }
        Err(e) => warn!(error = %e, "music library: the scan failed; playing what was placed"),
    }
}
