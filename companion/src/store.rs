//! The companion's memory: moods, picks, plays, feedback, the search cache, learned taste and
//! settings, in one SQLite file.
//!
//! The file is opened in WAL mode with `synchronous=FULL`, so a process killed (or a Pi
//! unplugged) mid-write loses at most the write in flight, never the file. The schema is
//! versioned with `PRAGMA user_version`: [`MIGRATIONS`] are applied in order at open, each in
//! its own transaction, so an old database is upgraded in place and a new one is refused with a
//! clear error instead of being misread.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use xpressify_protocol::{Emotion, Track};

pub use crate::taste::Feedback;

/// How a play ended, as `plays.outcome` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayOutcome {
    /// It played to its end.
    PlayedOut,
    /// A listener skipped it.
    Skipped,
    /// A listener disliked it (and it was skipped).
    Disliked,
    /// The mood changed and another pick took its place.
    Replaced,
    /// The player could not play it.
    Failed,
    /// The service stopped while it played.
    Stopped,
}

impl PlayOutcome {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PlayOutcome::PlayedOut => "played_out",
            PlayOutcome::Skipped => "skipped",
            PlayOutcome::Disliked => "disliked",
            PlayOutcome::Replaced => "replaced",
            PlayOutcome::Failed => "failed",
            PlayOutcome::Stopped => "stopped",
        }
    }
}

/// What one request to a paid API came to, as `search_log.outcome` holds it; every one counts
/// against the day's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOutcome {
    /// Answered with results.
    Ok,
    /// Refused: the quota is spent.
    Quota,
    /// Refused: the key is not valid.
    Key,
    /// Failed otherwise (network, server, a refused request).
    Error,
}

impl SearchOutcome {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchOutcome::Ok => "ok",
            SearchOutcome::Quota => "quota",
            SearchOutcome::Key => "key",
            SearchOutcome::Error => "error",
        }
    }
}

/// Why the store refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (disk full, locked, corrupt file…).
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file was written by a newer companion.
    #[error(
        "database {path} has schema version {found}, newer than this companion's {known}: upgrade the companion or use another store.path"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// Its `user_version`.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A stored value this build cannot read.
    #[error("database {path}: unreadable {what}: {reason}")]
    Corrupt {
        /// The database file.
        path: String,
        /// Which value.
        what: String,
        /// Why.
        reason: String,
    },
}

/// Rows one pruning transaction deletes at most.
pub const PRUNE_BATCH: u64 = 5_000;

/// What [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Moods.
    pub moods: u64,
    /// Picks (with their plays and feedback).
    pub picks: u64,
    /// Mood corrections, search log and cache entries.
    pub other: u64,
}

/// Schema migrations; `MIGRATIONS[i]` upgrades version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE moods (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    emotion TEXT,               -- NULL: no face
    confidence REAL NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX moods_at ON moods(at_ms);
CREATE TABLE picks (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    mood TEXT NOT NULL,
    query TEXT NOT NULL,
    variant TEXT NOT NULL,
    genre TEXT NOT NULL,        -- '' when none was used
    artist_arm TEXT NOT NULL,   -- '' when none was used
    source TEXT NOT NULL,       -- youtube | local
    track_key TEXT NOT NULL,    -- video id or catalogue file
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX picks_at ON picks(at_ms);
CREATE TABLE plays (
    id INTEGER PRIMARY KEY,
    pick_id INTEGER NOT NULL REFERENCES picks(id),
    sink TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    outcome TEXT                -- played_out | skipped | disliked | replaced | failed | stopped
);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY,
    pick_id INTEGER NOT NULL REFERENCES picks(id),
    kind TEXT NOT NULL,         -- like | dislike | skip | played_out
    at_ms INTEGER NOT NULL
);
CREATE TABLE search_cache (
    query_key TEXT PRIMARY KEY,
    results TEXT NOT NULL,      -- JSON array of candidates
    fetched_ms INTEGER NOT NULL
);
CREATE TABLE search_log (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    query_key TEXT NOT NULL,
    outcome TEXT NOT NULL       -- ok | quota | key | error
);
CREATE INDEX search_log_at ON search_log(at_ms);
CREATE TABLE taste (
    emotion TEXT NOT NULL,
    kind TEXT NOT NULL,         -- variant | genre | artist
    value TEXT NOT NULL,
    alpha REAL NOT NULL,
    beta REAL NOT NULL,
    PRIMARY KEY (emotion, kind, value)
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE mood_feedback (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    detected TEXT,              -- what the device said (NULL: no face)
    actual TEXT,                -- what the listener says it is (NULL: not given)
    at_ms INTEGER NOT NULL
);
"#,
    r#"
ALTER TABLE picks ADD COLUMN room TEXT NOT NULL DEFAULT '';
CREATE INDEX picks_room ON picks(room, id);
"#,
    r#"
CREATE TABLE taste_by_room (
    room TEXT NOT NULL,         -- '' before rooms: given to the first room at start
    emotion TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    alpha REAL NOT NULL,
    beta REAL NOT NULL,
    PRIMARY KEY (room, emotion, kind, value)
);
INSERT INTO taste_by_room SELECT '', emotion, kind, value, alpha, beta FROM taste;
DROP TABLE taste;
ALTER TABLE taste_by_room RENAME TO taste;
"#,
    // 7: why each pick was made, in words (the page's and Home Assistant's "why this song").
    r#"
ALTER TABLE picks ADD COLUMN reason TEXT NOT NULL DEFAULT '';
"#,
    // 8: the music library's scan results (library/), so a rescan analyses only new or
    // changed files.
    r#"
CREATE TABLE library (
    folder TEXT NOT NULL,       -- the scanned folder, absolute
    file TEXT NOT NULL,         -- inside it, '/'-separated
    size INTEGER NOT NULL,
    mtime_ms INTEGER NOT NULL,
    scanned_ms INTEGER NOT NULL,
    line TEXT NOT NULL,         -- the scan's JSON line
    PRIMARY KEY (folder, file)
);
CREATE TABLE library_places (   -- tracks a listener moved on the page
    folder TEXT NOT NULL,
    file TEXT NOT NULL,
    valence REAL NOT NULL,
    arousal REAL NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (folder, file)
);
"#,
    // 9: corrections keep what the device read, and each device's calibration (calibration/).
    r#"
ALTER TABLE mood_feedback ADD COLUMN smoothed TEXT;                  -- JSON [7]: the mood's probabilities
ALTER TABLE mood_feedback ADD COLUMN frames TEXT NOT NULL DEFAULT '[]'; -- JSON [[7], …]: raw readings of the seconds before
CREATE INDEX mood_feedback_device ON mood_feedback(device, at_ms);
CREATE TABLE mood_confirmations ( -- moods shown for a while and not corrected
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    emotion TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    frames TEXT NOT NULL        -- JSON [[7], …]: raw readings while it was shown
);
CREATE INDEX mood_confirmations_device ON mood_confirmations(device, at_ms);
CREATE TABLE calibrations (
    device TEXT PRIMARY KEY,
    version INTEGER NOT NULL,   -- of the newest one published
    reset_ms INTEGER NOT NULL,  -- corrections before this are not used (0: none reset)
    payload TEXT NOT NULL       -- the newest one published, as sent
);
"#,
];

/// A pick as the store keeps it: what was chosen, why, and from where.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PickRecord {
    /// Row id; feedback refers to it.
    pub id: i64,
    /// The room it was picked for ('' before rooms).
    pub room: String,
    /// The device whose mood led to it.
    pub device: String,
    /// That mood.
    pub mood: Emotion,
    /// The search text.
    pub query: String,
    /// The mapping's query variant it came from.
    pub variant: String,
    /// The genre added to the query ('' for none).
    pub genre: String,
    /// The artist added to the query ('' for none).
    pub artist_arm: String,
    /// Where to play it from.
    pub track: Track,
    /// Title shown to people.
    pub title: String,
    /// Artist or channel shown to people.
    pub artist: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Why it was picked, in words ('' before this was kept).
    pub reason: String,
}

/// A listener's "that's not my mood", for the history and for the device's calibration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MoodCorrection {
    /// The device whose reading was wrong.
    pub device: String,
    /// What it detected.
    pub detected: Option<Emotion>,
    /// What the listener says the mood is, if they said.
    pub actual: Option<Emotion>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The device's announced (smoothed, calibrated) probabilities at the time, if known.
    pub smoothed: Option<[f32; Emotion::COUNT]>,
    /// The device's raw readings of the seconds before (uncalibrated); not in the history.
    #[serde(skip)]
    pub frames: Vec<[f32; Emotion::COUNT]>,
}

/// A mood a device showed for a while without a correction: the listener let it stand.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    /// The mood shown.
    pub emotion: Emotion,
    /// The device's raw readings while it was shown.
    pub frames: Vec<[f32; Emotion::COUNT]>,
    /// When it was kept (ms since the epoch).
    pub at_ms: u64,
}

/// A device's calibration as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCalibration {
    /// The device.
    pub device: String,
    /// The version of the newest one published.
    pub version: u64,
    /// Corrections before this (ms since the epoch) are not used.
    pub reset_ms: u64,
    /// The newest one published, as sent.
    pub payload: Vec<u8>,
}

/// One stored mood, for the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MoodRecord {
    /// The device it came from.
    pub device: String,
    /// `None`: nobody in front of the camera.
    pub emotion: Option<Emotion>,
    /// The device's confidence.
    pub confidence: f32,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// The SQLite store. Cheap operations, called from async code directly: each is one short
/// statement on a local file.
pub struct Store {
    conn: Mutex<Connection>,
    path: String,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // A missing folder would surface as SQLite's terse "unable to open database file".
            let _ = std::fs::create_dir_all(dir);
        }
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: name.clone(),
            source,
        })?;
        Store::init(conn, name)
    }

    /// An in-memory store, for tools and benchmarks that must not touch the disk.
    pub fn in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite {
            path: ":memory:".into(),
            source,
        })?;
        Store::init(conn, ":memory:".into())
    }

    fn init(mut conn: Connection, path: String) -> Result<Store, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        // A damaged file is refused at start, by name, instead of failing later at some
        // write with the music already playing.
        let check: String = conn
            .pragma_query_value(None, "quick_check", |r| r.get(0))
            .map_err(err)?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path,
                what: "file".into(),
                reason: format!(
                    "SQLite's quick_check says {check:?}; move the file away to start afresh"
                ),
            });
        }
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path,
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(err)?;
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (every write is a
        // transaction), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn sql<T>(&self, r: rusqlite::Result<T>) -> Result<T, StoreError> {
        r.map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn corrupt(&self, what: &str, reason: impl ToString) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let r = self
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0));
        self.sql(r)
    }

    /// Remembers moods, all in one transaction: one commit (one fsync) for a whole burst, so
    /// a busy box spends its disk time on moods, not on commits. All or none are kept.
    pub fn record_moods(&self, moods: &[MoodRecord]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = self.sql(conn.transaction())?;
        {
            let mut insert = self.sql(tx.prepare_cached(
                "INSERT INTO moods (device, emotion, confidence, at_ms) VALUES (?1, ?2, ?3, ?4)",
            ))?;
            for mood in moods {
                self.sql(insert.execute(params![
                    mood.device,
                    mood.emotion.map(Emotion::as_str),
                    mood.confidence as f64,
                    mood.at_ms as i64
                ]))?;
            }
        }
        self.sql(tx.commit())
    }

    /// Deletes what is older than `before_ms` (moods, picks with their plays and feedback,
    /// mood corrections, the search log and cache) and the oldest moods and picks past
    /// `max_rows` each, in batches of [`PRUNE_BATCH`] rows so the store's lock is never held
    /// for long. Learned taste and settings are kept: they are what the history taught.
    pub fn prune(&self, before_ms: u64, max_rows: u64) -> Result<Pruned, StoreError> {
        let before = before_ms as i64;
        let mut pruned = Pruned::default();
        // Statements that delete one batch and report how many rows went.
        let batch = |sql: &str, arg: i64| -> Result<u64, StoreError> {
            let mut conn = self.conn();
            let tx = self.sql(conn.transaction())?;
            let n = self.sql(tx.execute(sql, params![arg, PRUNE_BATCH as i64]))? as u64;
            self.sql(tx.commit())?;
            Ok(n)
        };
        let until_done = |sql: &str, arg: i64| -> Result<u64, StoreError> {
            let mut total = 0;
            loop {
                let n = batch(sql, arg)?;
                total += n;
                if n < PRUNE_BATCH {
                    return Ok(total);
                }
            }
        };
        pruned.moods += until_done(
            "DELETE FROM moods WHERE id IN (SELECT id FROM moods WHERE at_ms < ?1 LIMIT ?2)",
            before,
        )?;
        // Picks go with their plays and feedback, a batch of picks at a time.
        let old_picks = "SELECT id FROM picks WHERE at_ms < ?1 ORDER BY id LIMIT ?2";
        pruned.picks += self.prune_picks(old_picks, before)?;
        for (table, column) in [
            ("mood_feedback", "at_ms"),
            ("mood_confirmations", "at_ms"),
            ("search_log", "at_ms"),
        ] {
            pruned.other += until_done(
                &format!(
                    "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {column} < ?1 LIMIT ?2)"
                ),
                before,
            )?;
        }
        pruned.other += until_done(
            "DELETE FROM search_cache WHERE rowid IN (SELECT rowid FROM search_cache WHERE fetched_ms < ?1 LIMIT ?2)",
            before,
        )?;
        // The row caps: the oldest past `max_rows`.
        let cap = max_rows.min(i64::MAX as u64) as i64;
        for table in ["moods", "picks"] {
            let count: i64 = self.sql(self.conn().query_row(
                &format!("SELECT COUNT(*) FROM {table}"),
                [],
                |r| r.get(0),
            ))?;
            let excess = (count - cap).max(0);
            if excess == 0 {
                continue;
            }
            // Everything up to the id of the oldest row that stays.
            let keep_from: i64 = self.sql(self.conn().query_row(
                &format!("SELECT id FROM {table} ORDER BY id LIMIT 1 OFFSET ?1"),
                [excess],
                |r| r.get(0),
            ))?;
            if table == "moods" {
                pruned.moods += until_done(
                    "DELETE FROM moods WHERE id IN (SELECT id FROM moods WHERE id < ?1 ORDER BY id LIMIT ?2)",
                    keep_from,
                )?;
            } else {
                pruned.picks += self.prune_picks(
                    "SELECT id FROM picks WHERE id < ?1 ORDER BY id LIMIT ?2",
                    keep_from,
                )?;
            }
        }
        Ok(pruned)
    }

    /// Deletes the picks `select` names (`?1` = `arg`, `?2` = the batch size), with their
    /// plays and feedback, a batch per transaction, until it names none.
    fn prune_picks(&self, select: &str, arg: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let mut conn = self.conn();
            let tx = self.sql(conn.transaction())?;
            let ids = format!("({select})");
            let mut n = 0;
            for sql in [
                format!("DELETE FROM feedback WHERE pick_id IN {ids}"),
                format!("DELETE FROM plays WHERE pick_id IN {ids}"),
                format!("DELETE FROM picks WHERE id IN {ids}"),
            ] {
                n = self.sql(tx.execute(&sql, params![arg, PRUNE_BATCH as i64]))? as u64;
            }
            self.sql(tx.commit())?;
            total += n;
            if n < PRUNE_BATCH {
                return Ok(total);
            }
        }
    }

    /// The newest moods, newest first.
    pub fn recent_moods(&self, limit: usize) -> Result<Vec<MoodRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = self.sql(conn.prepare(
            "SELECT device, emotion, confidence, at_ms FROM moods ORDER BY id DESC LIMIT ?1",
        ))?;
        let rows = self.sql(stmt.query_map([limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, f64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        }))?;
        let mut out = Vec::new();
        for row in rows {
            let (device, emotion, confidence, at_ms) = self.sql(row)?;
            let emotion = match emotion {
                Some(e) => Some(e.parse().map_err(|e| self.corrupt("mood", e))?),
                None => None,
            };
            out.push(MoodRecord {
                device,
                emotion,
                confidence: confidence as f32,
                at_ms: at_ms as u64,
            });
        }
        Ok(out)
    }

    /// How many moods are kept: what a load or retention check counts without reading them.
    pub fn mood_count(&self) -> Result<u64, StoreError> {
        let r = self
            .conn()
            .query_row("SELECT COUNT(*) FROM moods", [], |r| r.get::<_, i64>(0));
        self.sql(r).map(|n| n as u64)
    }

    /// Remembers a "that's not my mood", with what the device read.
    pub fn record_mood_correction(&self, c: &MoodCorrection) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT INTO mood_feedback (device, detected, actual, at_ms, smoothed, frames) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                c.device,
                c.detected.map(Emotion::as_str),
                c.actual.map(Emotion::as_str),
                c.at_ms as i64,
                c.smoothed.map(|s| serde_json::to_string(&s).unwrap_or_default()),
                serde_json::to_string(&c.frames).unwrap_or_default(),
            ],
        );
        self.sql(r).map(drop)
    }

    /// The newest `limit` corrections of `device` made at or after `since_ms` that name the
    /// actual mood, with their readings, newest first: what the calibration is fitted from.
    pub fn corrections_for_fit(
        &self,
        device: &str,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<MoodCorrection>, StoreError> {
        let conn = self.conn();
        let mut stmt = self.sql(conn.prepare(
            "SELECT detected, actual, at_ms, smoothed, frames FROM mood_feedback
             WHERE device = ?1 AND at_ms >= ?2 AND actual IS NOT NULL ORDER BY at_ms DESC, id DESC LIMIT ?3",
        ))?;
        let rows = self.sql(stmt.query_map(
            params![device, since_ms.min(i64::MAX as u64) as i64, limit as i64],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        ))?;
        let mut out = Vec::new();
        for row in rows {
            let (detected, actual, at_ms, smoothed, frames) = self.sql(row)?;
            let emotion = |v: &str| v.parse().map_err(|e| self.corrupt("mood correction", e));
            let smoothed = smoothed
                .map(|s| serde_json::from_str(&s).map_err(|e| self.corrupt("correction's mood", e)))
                .transpose()?;
            out.push(MoodCorrection {
                device: device.to_string(),
                detected: detected.as_deref().map(emotion).transpose()?,
                actual: Some(emotion(&actual)?),
                at_ms: at_ms as u64,
                smoothed,
                frames: serde_json::from_str(&frames)
                    .map_err(|e| self.corrupt("correction's readings", e))?,
            });
        }
        Ok(out)
    }

    /// Remembers that `device` showed `emotion` for a while and nobody corrected it, with
    /// its raw readings of that time.
    pub fn record_confirmation(
        &self,
        device: &str,
        emotion: Emotion,
        at_ms: u64,
        frames: &[[f32; Emotion::COUNT]],
    ) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT INTO mood_confirmations (device, emotion, at_ms, frames) VALUES (?1, ?2, ?3, ?4)",
            params![
                device,
                emotion.as_str(),
                at_ms.min(i64::MAX as u64) as i64,
                serde_json::to_string(frames).unwrap_or_default()
            ],
        );
        self.sql(r).map(drop)
    }

    /// Takes back `device`'s confirmations made at or after `since_ms` (a correction came
    /// after all).
    pub fn drop_confirmations(&self, device: &str, since_ms: u64) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "DELETE FROM mood_confirmations WHERE device = ?1 AND at_ms >= ?2",
            params![device, since_ms.min(i64::MAX as u64) as i64],
        );
        self.sql(r).map(drop)
    }

    /// The newest `limit` confirmations of `device` at or after `since_ms`.
    pub fn confirmations_for_fit(
        &self,
        device: &str,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<Confirmation>, StoreError> {
        let conn = self.conn();
        let mut stmt = self.sql(conn.prepare(
            "SELECT emotion, frames, at_ms FROM mood_confirmations
             WHERE device = ?1 AND at_ms >= ?2 ORDER BY at_ms DESC, id DESC LIMIT ?3",
        ))?;
        let rows = self.sql(stmt.query_map(
            params![device, since_ms.min(i64::MAX as u64) as i64, limit as i64],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        ))?;
        let mut out = Vec::new();
        for row in rows {
            let (emotion, frames, at_ms) = self.sql(row)?;
            out.push(Confirmation {
                emotion: emotion
                    .parse()
                    .map_err(|e| self.corrupt("confirmation", e))?,
                frames: serde_json::from_str(&frames)
                    .map_err(|e| self.corrupt("confirmation's readings", e))?,
                at_ms: at_ms as u64,
            });
        }
        Ok(out)
    }

    /// The calibration kept for `device`, if one was ever published.
    pub fn calibration(&self, device: &str) -> Result<Option<StoredCalibration>, StoreError> {
        Ok(self.calibrations_of(Some(device))?.into_iter().next())
    }

    /// Every device's calibration (at most one per device), for publishing them again on
    /// connecting.
    pub fn calibrations(&self) -> Result<Vec<StoredCalibration>, StoreError> {
        self.calibrations_of(None)
    }

    /// `device`'s calibration, or every device's (`None`).
    fn calibrations_of(&self, device: Option<&str>) -> Result<Vec<StoredCalibration>, StoreError> {
        let conn = self.conn();
        let mut stmt = self.sql(conn.prepare(
            "SELECT device, version, reset_ms, payload FROM calibrations
             WHERE ?1 IS NULL OR device = ?1 ORDER BY device",
        ))?;
        let rows = self.sql(stmt.query_map([device], |r| {
            Ok(StoredCalibration {
                device: r.get(0)?,
                version: r.get::<_, i64>(1)? as u64,
                reset_ms: r.get::<_, i64>(2)? as u64,
                payload: r.get::<_, String>(3)?.into_bytes(),
            })
        }))?;
        rows.map(|r| self.sql(r)).collect()
    }

    /// Keeps the newest calibration published for its device.
    pub fn save_calibration(&self, c: &StoredCalibration) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT INTO calibrations (device, version, reset_ms, payload) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(device) DO UPDATE SET version = ?2, reset_ms = ?3, payload = ?4",
            params![
                c.device,
                c.version.min(i64::MAX as u64) as i64,
                c.reset_ms.min(i64::MAX as u64) as i64,
                String::from_utf8_lossy(&c.payload),
            ],
        );
        self.sql(r).map(drop)
    }

    /// The newest corrections, newest first.
    pub fn recent_mood_corrections(&self, limit: usize) -> Result<Vec<MoodCorrection>, StoreError> {
        let conn = self.conn();
        let mut stmt = self.sql(conn.prepare(
            "SELECT device, detected, actual, at_ms FROM mood_feedback ORDER BY id DESC LIMIT ?1",
        ))?;
        let rows = self.sql(stmt.query_map([limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        }))?;
        let mut out = Vec::new();
        for row in rows {
            let (device, detected, actual, at_ms) = self.sql(row)?;
            let parse = |v: Option<String>| -> Result<Option<Emotion>, StoreError> {
                v.map(|e| e.parse().map_err(|e| self.corrupt("mood correction", e)))
                    .transpose()
            };
            out.push(MoodCorrection {
                device,
                detected: parse(detected)?,
                actual: parse(actual)?,
                at_ms: at_ms as u64,
                smoothed: None,
                frames: Vec::new(),
            });
        }
        Ok(out)
    }

    /// Remembers a pick and returns it with its id.
    pub fn record_pick(&self, mut pick: PickRecord) -> Result<PickRecord, StoreError> {
        let (source, key) = track_parts(&pick.track);
        let conn = self.conn();
        let r = conn.execute(
            "INSERT INTO picks (device, mood, query, variant, genre, artist_arm, source, track_key, title, artist, at_ms, room, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                pick.device,
                pick.mood.as_str(),
                pick.query,
                pick.variant,
                pick.genre,
                pick.artist_arm,
                source,
                key,
                pick.title,
                pick.artist,
                pick.at_ms as i64,
                pick.room,
                pick.reason
            ],
        );
        self.sql(r)?;
        pick.id = conn.last_insert_rowid();
        Ok(pick)
    }

    /// The newest picks, newest first.
    pub fn recent_picks(&self, limit: usize) -> Result<Vec<PickRecord>, StoreError> {
        self.picks_where("1", params![limit as i64])
    }

    /// The newest picks made for `room`, newest first.
    pub fn recent_picks_in(&self, room: &str, limit: usize) -> Result<Vec<PickRecord>, StoreError> {
        self.picks_where("room = ?2", params![limit as i64, room])
    }

    /// A pick by id.
    pub fn pick(&self, id: i64) -> Result<Option<PickRecord>, StoreError> {
        Ok(self
            .picks_where("id = ?2", params![1, id])?
            .into_iter()
            .next())
    }

    /// Earlier picks for `mood` from `source`, newest first: the fallback when a source is
    /// unreachable replays what once suited the mood.
    pub fn past_picks_for(
        &self,
        mood: Emotion,
        source: &str,
        limit: usize,
    ) -> Result<Vec<PickRecord>, StoreError> {
        self.picks_where(
            "mood = ?2 AND source = ?3",
            params![limit as i64, mood.as_str(), source],
        )
    }

    fn picks_where(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<PickRecord>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT id, device, mood, query, variant, genre, artist_arm, source, track_key, title, artist, at_ms, room, reason
             FROM picks WHERE {condition} ORDER BY id DESC LIMIT ?1"
        );
        let mut stmt = self.sql(conn.prepare(&sql))?;
        let rows = self.sql(stmt.query_map(params, |r| {
            Ok((
                (
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ),
                (
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, String>(10)?,
                    r.get::<_, i64>(11)?,
                ),
                (r.get::<_, String>(12)?, r.get::<_, String>(13)?),
            ))
        }))?;
        let mut out = Vec::new();
        for row in rows {
            let (
                (id, device, mood, query, variant, genre),
                (artist_arm, source, key, title, artist, at_ms),
                (room, reason),
            ) = self.sql(row)?;
            let mood: Emotion = mood.parse().map_err(|e| self.corrupt("pick mood", e))?;
            let track = match source.as_str() {
                "youtube" => Track::Youtube { video_id: key },
                "local" => Track::Local { file: key },
                other => return Err(self.corrupt("pick source", other)),
            };
            out.push(PickRecord {
                id,
                room,
                device,
                mood,
                query,
                variant,
                genre,
                artist_arm,
                track,
                title,
                artist,
                at_ms: at_ms as u64,
                reason,
            });
        }
        Ok(out)
    }

    /// Notes that a pick started on a sink; returns the play's id.
    pub fn start_play(&self, pick_id: i64, sink: &str, at_ms: u64) -> Result<i64, StoreError> {
        let conn = self.conn();
        let r = conn.execute(
            "INSERT INTO plays (pick_id, sink, started_ms) VALUES (?1, ?2, ?3)",
            params![pick_id, sink, at_ms as i64],
        );
        self.sql(r)?;
        Ok(conn.last_insert_rowid())
    }

    /// Notes how a play ended.
    pub fn end_play(
        &self,
        play_id: i64,
        outcome: PlayOutcome,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "UPDATE plays SET ended_ms = ?2, outcome = ?3 WHERE id = ?1 AND ended_ms IS NULL",
            params![play_id, at_ms as i64, outcome.as_str()],
        );
        self.sql(r).map(drop)
    }

    /// Remembers a listener's verdict on a pick.
    pub fn record_feedback(
        &self,
        pick_id: i64,
        kind: Feedback,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT INTO feedback (pick_id, kind, at_ms) VALUES (?1, ?2, ?3)",
            params![pick_id, kind.as_str(), at_ms as i64],
        );
        self.sql(r).map(drop)
    }

    /// The feedback of every pick from `first_pick` on, counted by kind, in one query: what
    /// the history shows beside the newest picks.
    pub fn feedback_since_pick(
        &self,
        first_pick: i64,
    ) -> Result<std::collections::HashMap<i64, Vec<(String, u32)>>, StoreError> {
        let conn = self.conn();
        let mut stmt = self.sql(conn.prepare(
            "SELECT pick_id, kind, COUNT(*) FROM feedback WHERE pick_id >= ?1 \
             GROUP BY pick_id, kind ORDER BY pick_id, kind",
        ))?;
        let rows = self.sql(stmt.query_map([first_pick], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
            ))
        }))?;
        let mut out: std::collections::HashMap<i64, Vec<(String, u32)>> = Default::default();
        for row in rows {
            let (pick, kind, count) = self.sql(row)?;
            out.entry(pick).or_default().push((kind, count));
        }
        Ok(out)
    }

    /// Cached search results (JSON) for a query key, if fetched at or after `fresh_since_ms`.
    pub fn cached_search(
        &self,
        query_key: &str,
        fresh_since_ms: u64,
    ) -> Result<Option<String>, StoreError> {
        let r = self
            .conn()
            .query_row(
                "SELECT results FROM search_cache WHERE query_key = ?1 AND fetched_ms >= ?2",
                params![query_key, fresh_since_ms as i64],
                |r| r.get(0),
            )
            .optional();
        self.sql(r)
    }

    /// Stores search results (JSON) for a query key.
    pub fn cache_search(
        &self,
        query_key: &str,
        results: &str,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT INTO search_cache (query_key, results, fetched_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(query_key) DO UPDATE SET results = excluded.results, fetched_ms = excluded.fetched_ms",
            params![query_key, results, at_ms as i64],
        );
        self.sql(r).map(drop)
    }

    /// Logs one request to a paid API (every outcome counts against a quota).
    pub fn log_search(
        &self,
        query_key: &str,
        outcome: SearchOutcome,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT INTO search_log (at_ms, query_key, outcome) VALUES (?1, ?2, ?3)",
            params![at_ms as i64, query_key, outcome.as_str()],
        );
        self.sql(r).map(drop)
    }

    /// Requests logged at or after `since_ms`.
    pub fn searches_since(&self, since_ms: u64) -> Result<u32, StoreError> {
        let r = self.conn().query_row(
            "SELECT COUNT(*) FROM search_log WHERE at_ms >= ?1",
            [since_ms as i64],
            |r| r.get(0),
        );
        self.sql(r)
    }

    /// Learned `(alpha, beta)` of every arm of one kind for an emotion, in `room`.
    pub fn taste(
        &self,
        room: &str,
        emotion: Emotion,
        kind: &str,
    ) -> Result<Vec<(String, f64, f64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = self.sql(conn.prepare(
            "SELECT value, alpha, beta FROM taste WHERE room = ?1 AND emotion = ?2 AND kind = ?3",
        ))?;
        let rows = self.sql(stmt.query_map(params![room, emotion.as_str(), kind], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        }))?;
        rows.map(|r| self.sql(r)).collect()
    }

    /// Replaces one arm's `(alpha, beta)` in `room`.
    pub fn set_taste(
        &self,
        room: &str,
        emotion: Emotion,
        kind: &str,
        value: &str,
        alpha: f64,
        beta: f64,
    ) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT INTO taste (room, emotion, kind, value, alpha, beta) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(room, emotion, kind, value) DO UPDATE SET alpha = excluded.alpha, beta = excluded.beta",
            params![room, emotion.as_str(), kind, value, alpha, beta],
        );
        self.sql(r).map(drop)
    }

    /// Gives the picks and taste learned before rooms (room `''`) to `room`, the first: a
    /// store from a single-room companion keeps its history and taste in the room that
    /// replaces it. Returns the rows moved.
    pub fn adopt_roomless(&self, room: &str) -> Result<usize, StoreError> {
        let conn = self.conn();
        let picks = self.sql(conn.execute("UPDATE picks SET room = ?1 WHERE room = ''", [room]))?;
        // An arm the room learned already keeps its own belief.
        let taste = self.sql(conn.execute(
            "UPDATE OR IGNORE taste SET room = ?1 WHERE room = ''",
            [room],
        ))?;
        self.sql(conn.execute("DELETE FROM taste WHERE room = ''", []))?;
        Ok(picks + taste)
    }

    /// A setting saved at run time (e.g. the music mapping edited on the web page).
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let r = self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional();
        self.sql(r)
    }

    /// Saves a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        );
        self.sql(r).map(drop)
    }
}

/// `(source, key)` columns of a track.
pub fn track_parts(track: &Track) -> (&'static str, &str) {
    match track {
        Track::Youtube { video_id } => ("youtube", video_id),
        Track::Local { file } => ("local", file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(mood: Emotion, id: &str) -> PickRecord {
        PickRecord {
            room: String::new(),
            id: 0,
            device: "kitchen".into(),
            mood,
            query: "happy upbeat songs".into(),
            variant: "happy upbeat songs".into(),
            genre: String::new(),
            artist_arm: String::new(),
            track: Track::Youtube {
                video_id: id.into(),
            },
            title: format!("Song {id}"),
            artist: "Band".into(),
            at_ms: 1_000,
            reason: String::new(),
        }
    }

    #[test]
    fn a_new_file_gets_every_migration_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/companion.sqlite");
        {
            let store = Store::open(&path).expect("opens");
            assert_eq!(
                store.schema_version().expect("version"),
                MIGRATIONS.len() as i64
            );
            store.record_pick(pick(Emotion::Happy, "a")).expect("pick");
        }
        let store = Store::open(&path).expect("reopens");
        assert_eq!(store.recent_picks(10).expect("picks").len(), 1);
    }

    #[test]
    fn a_burst_of_moods_is_kept_whole_and_read_back_newest_first() {
        let store = Store::in_memory().expect("store");
        let moods: Vec<MoodRecord> = [Some(Emotion::Happy), None, Some(Emotion::Sad)]
            .into_iter()
            .enumerate()
            .map(|(i, emotion)| MoodRecord {
                device: format!("box{i}"),
                emotion,
                confidence: 0.25 * i as f32,
                at_ms: 1_000 + i as u64,
            })
            .collect();
        store.record_moods(&moods).expect("record");
        store.record_moods(&[]).expect("an empty burst is fine");
        assert_eq!(store.mood_count().expect("count"), 3);
        let back = store.recent_moods(10).expect("read");
        assert_eq!(back, moods.into_iter().rev().collect::<Vec<_>>());
    }

    #[test]
    fn a_newer_schema_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.sqlite");
        Connection::open(&path)
            .and_then(|c| c.pragma_update(None, "user_version", 99))
            .expect("prepare");
        let err = Store::open(&path).err().expect("refused").to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }

    #[test]
    fn picks_round_trip_and_filter_by_mood_and_source() {
        let store = Store::in_memory().expect("store");
        let a = store.record_pick(pick(Emotion::Happy, "a")).expect("a");
        store.record_pick(pick(Emotion::Sad, "b")).expect("b");
        let mut c = pick(Emotion::Happy, "c");
        c.track = Track::Local {
            file: "c.ogg".into(),
        };
        store.record_pick(c).expect("c");
        assert_eq!(store.pick(a.id).expect("get"), Some(a.clone()));
        let past = store
            .past_picks_for(Emotion::Happy, "youtube", 10)
            .expect("past");
        assert_eq!(past, vec![a]);
        assert_eq!(store.recent_picks(2).expect("recent").len(), 2);
    }

    #[test]
    fn cache_respects_freshness_and_search_log_counts() {
        let store = Store::in_memory().expect("store");
        store.cache_search("q", "[]", 100).expect("cache");
        assert_eq!(
            store.cached_search("q", 50).expect("hit"),
            Some("[]".into())
        );
        assert_eq!(store.cached_search("q", 101).expect("stale"), None);
        store.log_search("q", SearchOutcome::Ok, 10).expect("log");
        store
            .log_search("q", SearchOutcome::Quota, 20)
            .expect("log");
        assert_eq!(store.searches_since(15).expect("count"), 1);
    }

    #[test]
    fn taste_and_settings_upsert() {
        let store = Store::in_memory().expect("store");
        store
            .set_taste("", Emotion::Sad, "variant", "sad songs", 1.0, 2.0)
            .expect("set");
        store
            .set_taste("", Emotion::Sad, "variant", "sad songs", 3.0, 2.0)
            .expect("update");
        store
            .set_taste("bedroom", Emotion::Sad, "variant", "sad songs", 1.0, 9.0)
            .expect("another room");
        assert_eq!(
            store.taste("", Emotion::Sad, "variant").expect("taste"),
            vec![("sad songs".to_string(), 3.0, 2.0)]
        );
        // A store from before rooms gives its taste to the first room.
        assert_eq!(store.adopt_roomless("kitchen").expect("adopt"), 1);
        assert_eq!(
            store
                .taste("kitchen", Emotion::Sad, "variant")
                .expect("taste"),
            vec![("sad songs".to_string(), 3.0, 2.0)]
        );
        assert_eq!(
            store
                .taste("bedroom", Emotion::Sad, "variant")
                .expect("taste"),
            vec![("sad songs".to_string(), 1.0, 9.0)]
        );
        assert!(
            store
                .taste("", Emotion::Sad, "variant")
                .expect("taste")
                .is_empty()
        );
        let c = MoodCorrection {
            smoothed: None,
            frames: Vec::new(),
            device: "kitchen".into(),
            detected: Some(Emotion::Sad),
            actual: None,
            at_ms: 5,
        };
        store.record_mood_correction(&c).expect("correction");
        assert_eq!(store.recent_mood_corrections(5).expect("read"), vec![c]);
        store.set_setting("k", "1").expect("set");
        store.set_setting("k", "2").expect("update");
        assert_eq!(store.setting("k").expect("get"), Some("2".into()));
        assert_eq!(store.setting("missing").expect("get"), None);
    }
}
