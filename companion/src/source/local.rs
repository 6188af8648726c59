//! A local catalogue: a folder of audio files and a `catalogue.toml` beside them that says
//! which moods each file suits. It plays offline, without a key, or whenever people prefer
//! their own music.
//!
//! ```toml
//! [[track]]
//! file = "calm/rain-on-the-roof.ogg"   # relative to the folder
//! title = "Rain on the Roof"
//! artist = "Field Recordings"
//! moods = ["sad", "neutral"]
//! genres = ["ambient"]                 # optional
//! ```

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;
use xpressify_protocol::{Emotion, Track};

use super::{Candidate, Source, SourceError};
use crate::mapping::Query;

/// The sidecar file's name.
pub const CATALOGUE_FILE: &str = "catalogue.toml";

/// One entry of `catalogue.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueTrack {
    /// Path relative to the catalogue folder.
    pub file: String,
    /// Title shown to people.
    pub title: String,
    /// Artist shown to people.
    #[serde(default)]
    pub artist: String,
    /// The moods it suits.
    pub moods: Vec<Emotion>,
    /// Genres, matched against the mapping's genres.
    #[serde(default)]
    pub genres: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    track: Vec<CatalogueTrack>,
}

/// The catalogue, read once at start.
#[derive(Debug, Clone)]
pub struct LocalCatalogue {
    folder: PathBuf,
    tracks: Vec<CatalogueTrack>,
}

impl LocalCatalogue {
    /// Reads `folder/catalogue.toml`. Entries whose file is missing or escapes the folder
    /// are skipped with a warning (a catalogue with one bad line still plays the rest); a
    /// sidecar that is not valid TOML is an error naming the line.
    pub fn open(folder: &Path) -> Result<Self, SourceError> {
        let sidecar = folder.join(CATALOGUE_FILE);
        let text = std::fs::read_to_string(&sidecar)
            .map_err(|e| SourceError::Local(format!("cannot read {}: {e}", sidecar.display())))?;
        let parsed: CatalogueFile = toml::from_str(&text).map_err(|e| {
            SourceError::Local(format!("{}: {}", sidecar.display(), e.to_string().trim()))
        })?;
        let mut tracks = Vec::new();
        let real_folder = folder
            .canonicalize()
            .unwrap_or_else(|_| folder.to_path_buf());
        for t in parsed.track {
            if !is_inside(&t.file) {
                warn!(file = %t.file, "catalogue entry skipped: the path must stay inside the folder");
            } else if !folder.join(&t.file).is_file() {
                warn!(file = %t.file, folder = %folder.display(), "catalogue entry skipped: no such file");
            } else if real_path_inside(&real_folder, &folder.join(&t.file)).is_none() {
                warn!(file = %t.file, "catalogue entry skipped: a link to outside the folder");
            } else if t.moods.is_empty() {
                warn!(file = %t.file, "catalogue entry skipped: no moods");
            } else {
                tracks.push(t);
            }
        }
        Ok(LocalCatalogue {
            folder: folder.to_path_buf(),
            tracks,
        })
    }

    /// The folder the files live in.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Every playable entry.
    pub fn tracks(&self) -> &[CatalogueTrack] {
        &self.tracks
    }

    /// The absolute path of a catalogue file, if it is one of ours.
    pub fn path_of(&self, file: &str) -> Option<PathBuf> {
        self.tracks
            .iter()
            .any(|t| t.file == file)
            .then(|| self.folder.join(file))
    }
}

/// `path`'s real path (links followed) when it is a file inside `folder` (a real path too):
/// a link in the catalogue folder to `/etc/…` is neither played nor served.
pub fn real_path_inside(folder: &Path, path: &Path) -> Option<PathBuf> {
    let real = path.canonicalize().ok()?;
    (real.starts_with(folder) && real.is_file()).then_some(real)
}

/// Whether a relative path stays inside its folder (no `..`, not absolute).
pub fn is_inside(file: &str) -> bool {
    !file.is_empty()
        && Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

impl Source for LocalCatalogue {
    fn name(&self) -> &'static str {
        "local"
    }

    /// Tracks for the query's target mood; those that also have its genre or artist first.
    async fn search(&self, query: &Query) -> Result<Vec<Candidate>, SourceError> {
        let mut fitting: Vec<(u8, &CatalogueTrack)> = self
            .tracks
            .iter()
            .filter(|t| t.moods.contains(&query.target))
            .map(|t| {
                let genre = query
                    .genre
                    .as_ref()
                    .is_some_and(|g| t.genres.iter().any(|x| x.eq_ignore_ascii_case(g)));
                let artist = query
                    .artist
                    .as_ref()
                    .is_some_and(|a| t.artist.eq_ignore_ascii_case(a));
                (u8::from(genre) + u8::from(artist), t)
            })
            .collect();
        if fitting.is_empty() {
            return Err(SourceError::NothingFor(query.target.to_string()));
        }
        fitting.sort_by_key(|t| std::cmp::Reverse(t.0));
        Ok(fitting
            .into_iter()
            .map(|(_, t)| Candidate {
                track: Track::Local {
                    file: t.file.clone(),
                },
                title: t.title.clone(),
                artist: t.artist.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(target: Emotion, genre: Option<&str>) -> Query {
        Query {
            mood: Emotion::Sad,
            target,
            variant: "x".into(),
            genre: genre.map(String::from),
            artist: None,
            language: None,
        }
    }

    fn catalogue() -> (tempfile::TempDir, LocalCatalogue) {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["a.ogg", "b.ogg", "c.ogg"] {
            std::fs::write(dir.path().join(f), b"not really audio").expect("write");
        }
        std::fs::write(
            dir.path().join(CATALOGUE_FILE),
            r#"
[[track]]
file = "a.ogg"
title = "A"
moods = ["sad"]
[[track]]
file = "b.ogg"
title = "B"
artist = "Bee"
moods = ["sad", "happy"]
genres = ["Jazz"]
[[track]]
file = "missing.ogg"
title = "Gone"
moods = ["sad"]
[[track]]
file = "../c.ogg"
title = "Outside"
moods = ["sad"]
"#,
        )
        .expect("write");
        let c = LocalCatalogue::open(dir.path()).expect("opens");
        (dir, c)
    }

    #[tokio::test]
    async fn finds_tracks_for_the_target_mood_genre_first() {
        let (_dir, c) = catalogue();
        assert_eq!(
            c.tracks().len(),
            2,
            "missing and escaping files are skipped"
        );
        let sad = c
            .search(&query(Emotion::Sad, Some("jazz")))
            .await
            .expect("sad");
        assert_eq!(sad[0].title, "B");
        assert_eq!(sad.len(), 2);
        let happy = c.search(&query(Emotion::Happy, None)).await.expect("happy");
        assert_eq!(happy.len(), 1);
        assert!(matches!(
            c.search(&query(Emotion::Fear, None)).await,
            Err(SourceError::NothingFor(_))
        ));
        assert!(c.path_of("a.ogg").is_some());
        assert!(c.path_of("../c.ogg").is_none());
    }

    #[test]
    fn a_broken_sidecar_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(CATALOGUE_FILE), "[[track]]\nfile = ").expect("write");
        let err = LocalCatalogue::open(dir.path())
            .expect_err("refused")
            .to_string();
        assert!(err.contains(CATALOGUE_FILE), "{err}");
        let err = LocalCatalogue::open(&dir.path().join("nope"))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
