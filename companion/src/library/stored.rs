//! The library's rows in the store: what each file's last scan found, with the size and
//! modification time that tell whether the file changed since.

use rusqlite::params;

use super::{Place, ScanLine};
use crate::store::{Store, StoreError};

/// A file's stored scan.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredScan {
    /// Size in bytes at the scan.
    pub size: u64,
    /// Modification time at the scan, ms since the epoch.
    pub mtime_ms: u64,
    /// What the scan found.
    pub line: ScanLine,
}

impl Store {
    /// Every stored scan of `folder`'s files, by file. Rows that no longer parse (written
    /// by a newer version) are left out, so those files are analysed again.
    pub fn library_scans(
        &self,
        folder: &str,
    ) -> Result<std::collections::HashMap<String, StoredScan>, StoreError> {
        let conn = self.conn();
        let mut stmt = self.sql(
            conn.prepare_cached("SELECT file, size, mtime_ms, line FROM library WHERE folder = ?1"),
        )?;
        let rows = self.sql(stmt.query_map(params![folder], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        }))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (file, size, mtime_ms, line) = self.sql(row)?;
            if let Ok(line) = serde_json::from_str::<ScanLine>(&line) {
                out.insert(
                    file,
                    StoredScan {
                        size: size.max(0) as u64,
                        mtime_ms: mtime_ms.max(0) as u64,
                        line,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Keeps one file's scan (replacing the previous one).
    pub fn put_library_scan(
        &self,
        folder: &str,
        scan: &StoredScan,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let line = serde_json::to_string(&scan.line).map_err(|e| StoreError::Corrupt {
            path: String::new(),
            what: "library line".into(),
            reason: e.to_string(),
        })?;
        let r = self.conn().execute(
            "INSERT OR REPLACE INTO library (folder, file, size, mtime_ms, scanned_ms, line) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                folder,
                scan.line.file,
                scan.size as i64,
                scan.mtime_ms as i64,
                at_ms as i64,
                line
            ],
        );
        self.sql(r).map(|_| ())
    }

    /// Forgets the scans of `folder`'s files that are not in `present`; returns how many.
    pub fn forget_library_files(
        &self,
        folder: &str,
        present: &std::collections::HashSet<String>,
    ) -> Result<usize, StoreError> {
        let stored = self.library_scans(folder)?;
        let mut conn = self.conn();
        let tx = self.sql(conn.transaction())?;
        let mut removed = 0;
        for file in stored.keys().filter(|f| !present.contains(*f)) {
            removed += self.sql(tx.execute(
                "DELETE FROM library WHERE folder = ?1 AND file = ?2",
                params![folder, file],
            ))?;
        }
        self.sql(tx.commit())?;
        Ok(removed)
    }
}

impl Store {
    /// Where listeners moved `folder`'s tracks, by file.
    pub fn library_places(
        &self,
        folder: &str,
    ) -> Result<std::collections::HashMap<String, Place>, StoreError> {
        let conn = self.conn();
        let mut stmt = self.sql(conn.prepare_cached(
            "SELECT file, valence, arousal FROM library_places WHERE folder = ?1",
        ))?;
        let rows = self.sql(stmt.query_map(params![folder], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, f64>(2)?,
            ))
        }))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (file, v, a) = self.sql(row)?;
            out.insert(file, Place::new(v as f32, a as f32));
        }
        Ok(out)
    }

    /// Keeps where a listener moved a track.
    pub fn set_library_place(
        &self,
        folder: &str,
        file: &str,
        place: Place,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT OR REPLACE INTO library_places (folder, file, valence, arousal, at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                folder,
                file,
                f64::from(place.valence),
                f64::from(place.arousal),
                at_ms as i64
            ],
        );
        self.sql(r).map(|_| ())
    }

    /// Forgets a listener's move (the track takes its scanned place again).
    pub fn clear_library_place(&self, folder: &str, file: &str) -> Result<bool, StoreError> {
        let r = self.conn().execute(
            "DELETE FROM library_places WHERE folder = ?1 AND file = ?2",
            params![folder, file],
        );
        self.sql(r).map(|n| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::Outcome;

    #[test]
    fn scans_are_kept_per_folder_and_forgotten_when_the_file_goes() {
        let store = Store::in_memory().expect("store");
        let scan = |file: &str| StoredScan {
            size: 10,
            mtime_ms: 20,
            line: ScanLine {
                file: file.into(),
                outcome: Outcome::Failed {
                    error: "damaged".into(),
                },
            },
        };
        store
            .put_library_scan("/a", &scan("x.mp3"), 1)
            .expect("put");
        store
            .put_library_scan("/a", &scan("y.mp3"), 1)
            .expect("put");
        store
            .put_library_scan("/b", &scan("x.mp3"), 1)
            .expect("put");
        let a = store.library_scans("/a").expect("read");
        assert_eq!(a.len(), 2);
        assert_eq!(a["x.mp3"], scan("x.mp3"));
        let keep = ["y.mp3".to_string()].into_iter().collect();
        assert_eq!(store.forget_library_files("/a", &keep).expect("forget"), 1);
        assert_eq!(store.library_scans("/a").expect("read").len(), 1);
        assert_eq!(store.library_scans("/b").expect("read").len(), 1);
        store
            .set_library_place("/a", "y.mp3", Place::new(0.1, 0.9), 5)
            .expect("place");
        assert_eq!(
            store.library_places("/a").expect("places")["y.mp3"],
            Place::new(0.1, 0.9)
        );
        assert!(store.library_places("/b").expect("places").is_empty());
        assert!(store.clear_library_place("/a", "y.mp3").expect("clear"));
        assert!(store.library_places("/a").expect("places").is_empty());
    }
}
