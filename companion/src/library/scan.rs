//! Walks a music folder and brings its stored scans up to date: new or changed files are
//! analysed on every core, unchanged ones are taken from the store, vanished ones forgotten.
//!
//! The walk is bounded (depth, file count), stays inside the folder (links to outside are
//! skipped), and skips hidden entries; each file's line reaches the caller as soon as it is
//! known, so a terminal shows progress and a tool can read the lines as they come.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Instant, UNIX_EPOCH};

use super::stored::StoredScan;
use super::{Outcome, ScanLine, analyse, is_audio};
use crate::store::{Store, StoreError};

/// Folders deeper than this are not entered (a link loop cannot exist, as links to folders
/// are not followed, but a generated tree can be absurdly deep).
pub const MAX_DEPTH: usize = 32;
/// Files beyond this many are left out, with a warning: a library of 100,000 tracks is
/// large; a folder with more audio files than that is more likely a mistake.
pub const MAX_FILES: usize = 100_000;

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Seconds of each track to decode and measure.
    pub seconds: f32,
    /// Files analysed at once (one per core is the default).
    pub threads: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            seconds: 30.0,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Where a scan stands, passed with each line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Files whose line is known.
    pub done: usize,
    /// Audio files found.
    pub total: usize,
}

/// What a scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScanSummary {
    /// Audio files found.
    pub files: usize,
    /// Files analysed this time (new or changed).
    pub analysed: usize,
    /// Files taken unchanged from the store.
    pub reused: usize,
    /// Files that could not be read (of all, analysed or reused).
    pub failed: usize,
    /// Stored files that are gone.
    pub forgotten: usize,
    /// Files left out past [`MAX_FILES`].
    pub left_out: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl ScanSummary {
    /// Analysed files per second of wall time (0 when none were analysed).
    pub fn files_per_second(&self) -> f64 {
        if self.analysed == 0 || self.seconds <= 0.0 {
            0.0
        } else {
            self.analysed as f64 / self.seconds
        }
    }
}

/// Why a scan could not run at all (a single file's failure is a line, not this).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The folder cannot be read.
    #[error("cannot read the music folder {folder}: {source}")]
    Folder {
        /// The folder.
        folder: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The folder's key in the store: its real, absolute path.
pub fn folder_key(folder: &Path) -> Result<String, ScanError> {
    let real = folder.canonicalize().map_err(|source| ScanError::Folder {
        folder: folder.display().to_string(),
        source,
    })?;
    if !real.is_dir() {
        return Err(ScanError::Folder {
            folder: folder.display().to_string(),
            source: std::io::Error::other("not a folder"),
        });
    }
    Ok(real.to_string_lossy().into_owned())
}

/// One audio file found by the walk.
struct Found {
    file: String,
    path: PathBuf,
    size: u64,
    mtime_ms: u64,
}

/// Scans `folder`, calling `each` with every file's line (analysed or stored) in the order
/// they become known. Stops early, keeping what was stored so far, once `stop` is set.
pub fn scan(
    folder: &Path,
    store: &Store,
    options: &ScanOptions,
    stop: &AtomicBool,
    mut each: impl FnMut(&ScanLine, Progress),
) -> Result<ScanSummary, ScanError> {
    let started = Instant::now();
    let key = folder_key(folder)?;
    let root = PathBuf::from(&key);
    let mut found = Vec::new();
    let mut left_out = 0;
    walk(&root, &root, 0, &mut found, &mut left_out);
    found.sort_by(|a, b| a.file.cmp(&b.file));
    let stored = store.library_scans(&key)?;
    let mut summary = ScanSummary {
        files: found.len(),
        left_out,
        ..ScanSummary::default()
    };
    let mut progress = Progress {
        done: 0,
        total: found.len(),
    };
    let mut todo = Vec::new();
    let present: HashSet<String> = found.iter().map(|f| f.file.clone()).collect();
    for f in found {
        match stored.get(&f.file) {
            Some(s) if s.size == f.size && s.mtime_ms == f.mtime_ms => {
                summary.reused += 1;
                summary.failed += usize::from(matches!(s.line.outcome, Outcome::Failed { .. }));
                progress.done += 1;
                each(&s.line, progress);
            }
            _ => todo.push(f),
        }
    }
    let threads = options.threads.clamp(1, 64).min(todo.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, ScanLine)>();
    let mut store_error = None;
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (todo, next) = (&todo, &next);
            s.spawn(move || {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = todo.get(i) else { break };
                    let line = analyse(&f.path, &f.file, options.seconds);
                    if tx.send((i, line)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let now_ms = crate::clock::now_ms();
        for (i, line) in rx {
            let f = &todo[i];
            summary.analysed += 1;
            summary.failed += usize::from(matches!(line.outcome, Outcome::Failed { .. }));
            progress.done += 1;
            let kept = StoredScan {
                size: f.size,
                mtime_ms: f.mtime_ms,
                line,
            };
            if store_error.is_none()
                && let Err(e) = store.put_library_scan(&key, &kept, now_ms)
            {
                store_error = Some(e);
                stop.store(true, Ordering::Relaxed);
            }
            each(&kept.line, progress);
        }
    });
    if let Some(e) = store_error {
        return Err(e.into());
    }
    if !stop.load(Ordering::Relaxed) {
        summary.forgotten = store.forget_library_files(&key, &present)?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Collects the audio files under `dir`, with paths relative to `root`.
fn walk(root: &Path, dir: &Path, depth: usize, found: &mut Vec<Found>, left_out: &mut usize) {
    if depth > MAX_DEPTH {
        tracing::warn!(folder = %dir.display(), "music folder too deep; not entered");
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        tracing::warn!(folder = %dir.display(), "cannot read a music folder; skipped");
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(root, &path, depth + 1, found, left_out);
            continue;
        }
        if !is_audio(&path) {
            continue;
        }
        // A file, or a link to one that stays inside the folder.
        let Some(real) = crate::source::real_path_inside(root, &path) else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(&real) else {
            continue;
        };
        let Some(file) = relative(root, &path) else {
            tracing::warn!(file = %path.display(), "a file name that is not UTF-8; skipped");
            continue;
        };
        if found.len() >= MAX_FILES {
            *left_out += 1;
            continue;
        }
        let mtime_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        found.push(Found {
            file,
            path,
            size: meta.len(),
            mtime_ms,
        });
    }
}

/// `path` inside `root` as a `/`-separated string.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}
