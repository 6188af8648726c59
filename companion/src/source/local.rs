//! The local source: a folder of audio files, placed on the valence/arousal plane by the
//! library's scan (`library.folder`) and by a `catalogue.toml` beside them that says which
//! moods a file suits (`local.folder` is that file alone). It plays offline, without a key,
//! or whenever people prefer their own music.
//!
//! ```toml
//! [[track]]
//! file = "calm/rain-on-the-roof.ogg"   # relative to the folder
//! title = "Rain on the Roof"
//! artist = "Field Recordings"
//! moods = ["sad", "neutral"]
//! genres = ["ambient"]                 # optional
//! ```

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tracing::warn;
use xpressify_protocol::{Emotion, Track};

use super::{Candidate, Source, SourceError};
use crate::library::place::{SUITS_WITHIN, place_of_moods};
use crate::library::{Outcome, Place, PlaceSource, ScanLine, default_place, moods_near};
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

/// A playable track of the local source: placed by hand in `catalogue.toml`, or by the
/// library's scan.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalTrack {
    /// Path relative to the folder, `/`-separated.
    pub file: String,
    /// Title shown to people.
    pub title: String,
    /// Artist shown to people.
    pub artist: String,
    /// Genres, matched against the mapping's genres.
    pub genres: Vec<String>,
    /// Where it sits on the valence/arousal plane.
    pub place: Place,
    /// The moods it suits: the hand-written ones, or those near its place.
    pub moods: Vec<Emotion>,
    /// Where its place came from.
    pub source: PlaceSource,
}

/// Candidates a search returns at least, when fewer tracks lie near the mood's place: a
/// library of only cheerful songs still plays its least cheerful ones for a sad listener.
pub const MIN_CANDIDATES: usize = 3;

/// The local source: the folder's hand-placed tracks and, for a scanned library, every
/// track the scan placed. Clones share the track list, which a rescan replaces at once.
#[derive(Debug, Clone)]
pub struct LocalCatalogue {
    folder: PathBuf,
    hand: Arc<Vec<CatalogueTrack>>,
    tracks: Arc<RwLock<Arc<Vec<LocalTrack>>>>,
    moved: Arc<RwLock<HashMap<String, Place>>>,
    /// The scan lines the tracks were last built from, to build them again.
    scanned: Arc<RwLock<Arc<Vec<ScanLine>>>>,
}

impl LocalCatalogue {
    /// Reads `folder/catalogue.toml`. Entries whose file is missing or escapes the folder
    /// are skipped with a warning (a catalogue with one bad line still plays the rest); a
    /// sidecar that is not valid TOML is an error naming the line.
    pub fn open(folder: &Path) -> Result<Self, SourceError> {
        let sidecar = folder.join(CATALOGUE_FILE);
        let text = std::fs::read_to_string(&sidecar)
            .map_err(|e| SourceError::Local(format!("cannot read {}: {e}", sidecar.display())))?;
        Self::with_sidecar(folder, &text)
    }

    /// A scanned library in `folder`: its `catalogue.toml`, where there is one, places the
    /// tracks it lists; [`LocalCatalogue::set_scanned`] adds the rest.
    pub fn library(folder: &Path) -> Result<Self, SourceError> {
        if !folder.is_dir() {
            return Err(SourceError::Local(format!(
                "the music folder {} does not exist",
                folder.display()
            )));
        }
        match std::fs::read_to_string(folder.join(CATALOGUE_FILE)) {
            Ok(text) => Self::with_sidecar(folder, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::with_sidecar(folder, ""),
            Err(e) => Err(SourceError::Local(format!(
                "cannot read {}: {e}",
                folder.join(CATALOGUE_FILE).display()
            ))),
        }
    }

    fn with_sidecar(folder: &Path, text: &str) -> Result<Self, SourceError> {
        let sidecar = folder.join(CATALOGUE_FILE);
        let parsed: CatalogueFile = toml::from_str(text).map_err(|e| {
            SourceError::Local(format!("{}: {}", sidecar.display(), e.to_string().trim()))
        })?;
        let mut hand = Vec::new();
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
                hand.push(t);
            }
        }
        let catalogue = LocalCatalogue {
            folder: folder.to_path_buf(),
            hand: Arc::new(hand),
            tracks: Arc::default(),
            moved: Arc::default(),
            scanned: Arc::default(),
        };
        catalogue.set_scanned(&[], default_place);
        Ok(catalogue)
    }

    /// The folder the files live in.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Every playable track, as of now.
    pub fn tracks(&self) -> Arc<Vec<LocalTrack>> {
        match self.tracks.read() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The `catalogue.toml` entry for `file`, if the user placed it by hand.
    pub fn hand_placed(&self, file: &str) -> Option<&CatalogueTrack> {
        self.hand.iter().find(|t| t.file == file)
    }

    /// Replaces the scanned tracks with the placed ones among `lines` (hand-placed files
    /// keep their hand-written place); `place_of` gives each emotion's place, for the moods
    /// a track suits.
    pub fn set_scanned(&self, lines: &[ScanLine], place_of: impl Fn(Emotion) -> Place + Copy) {
        let kept = Arc::new(lines.to_vec());
        match self.scanned.write() {
            Ok(mut s) => *s = kept,
            Err(p) => *p.into_inner() = kept,
        }
        let mut tracks: Vec<LocalTrack> = self
            .hand
            .iter()
            .map(|t| LocalTrack {
                file: t.file.clone(),
                title: t.title.clone(),
                artist: t.artist.clone(),
                genres: t.genres.clone(),
                place: place_of_moods(&t.moods, place_of).unwrap_or(Place::new(0.5, 0.5)),
                moods: t.moods.clone(),
                source: PlaceSource::Catalogue,
            })
            .collect();
        for line in lines {
            let Outcome::Placed(p) = &line.outcome else {
                continue;
            };
            if self.hand_placed(&line.file).is_some() {
                continue;
            }
            tracks.push(LocalTrack {
                file: line.file.clone(),
                title: p.title.clone(),
                artist: p.artist.clone(),
                genres: p
                    .genre
                    .split([';', '/', ','])
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(String::from)
                    .collect(),
                place: p.place(),
                moods: moods_near(p.place(), place_of),
                source: p.source,
            });
        }
        let moved = self.moved();
        for t in &mut tracks {
            if let Some(place) = moved.get(&t.file) {
                t.place = *place;
                t.moods = moods_near(*place, place_of);
                t.source = PlaceSource::Listener;
            }
        }
        self.replace(tracks);
    }

    fn replace(&self, tracks: Vec<LocalTrack>) {
        let tracks = Arc::new(tracks);
        match self.tracks.write() {
            Ok(mut t) => *t = tracks,
            Err(p) => *p.into_inner() = tracks,
        }
    }

    fn moved(&self) -> HashMap<String, Place> {
        match self.moved.read() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Builds the tracks again from the last scan lines, the hand placements and the moves.
    fn rebuild(&self, place_of: impl Fn(Emotion) -> Place + Copy) {
        let lines = match self.scanned.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        };
        self.set_scanned(&lines, place_of);
    }

    fn edit_moved(&self, edit: impl FnOnce(&mut HashMap<String, Place>)) {
        match self.moved.write() {
            Ok(mut m) => edit(&mut m),
            Err(p) => edit(&mut p.into_inner()),
        }
    }

    /// Where listeners moved tracks (kept in the store; given at start).
    pub fn set_moved(
        &self,
        moved: HashMap<String, Place>,
        place_of: impl Fn(Emotion) -> Place + Copy,
    ) {
        self.edit_moved(|m| *m = moved);
        self.rebuild(place_of);
    }

    /// Gives `file` back the place it had before a listener moved it.
    pub fn unmove_track(&self, file: &str, place_of: impl Fn(Emotion) -> Place + Copy) {
        self.edit_moved(|m| {
            m.remove(file);
        });
        self.rebuild(place_of);
    }

    /// Moves `file` to `place` (a listener's choice, above any other); the moved track, or
    /// `None` when the source has no such track.
    pub fn move_track(
        &self,
        file: &str,
        place: Place,
        place_of: impl Fn(Emotion) -> Place + Copy,
    ) -> Option<LocalTrack> {
        if !self.tracks().iter().any(|t| t.file == file) {
            return None;
        }
        self.edit_moved(|m| {
            m.insert(file.to_string(), place);
        });
        self.rebuild(place_of);
        self.tracks().iter().find(|t| t.file == file).cloned()
    }

    /// The absolute path of a catalogue file, if it is one of ours.
    pub fn path_of(&self, file: &str) -> Option<PathBuf> {
        self.tracks()
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

    /// Tracks for the query's target mood, nearest its place first: hand-placed tracks
    /// that list the mood, then scanned tracks within [`SUITS_WITHIN`] of the place (at
    /// least [`MIN_CANDIDATES`] of the nearest). A track with the query's genre or artist
    /// counts as a little nearer.
    async fn search(&self, query: &Query) -> Result<Vec<Candidate>, SourceError> {
        let tracks = self.tracks();
        let mut scored: Vec<(f32, &LocalTrack)> = tracks
            .iter()
            .filter_map(|t| {
                let distance = match t.source {
                    PlaceSource::Catalogue if t.moods.contains(&query.target) => 0.0,
                    PlaceSource::Catalogue => return None,
                    _ => t.place.distance(query.place),
                };
                let genre = query
                    .genre
                    .as_ref()
                    .is_some_and(|g| t.genres.iter().any(|x| x.eq_ignore_ascii_case(g)));
                let artist = query
                    .artist
                    .as_ref()
                    .is_some_and(|a| t.artist.eq_ignore_ascii_case(a));
                let bonus = 0.05 * f32::from(u8::from(genre) + u8::from(artist));
                Some((distance - bonus, t))
            })
            .collect();
        if scored.is_empty() {
            return Err(SourceError::NothingFor(query.target.to_string()));
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let near = scored.iter().filter(|(d, _)| *d <= SUITS_WITHIN).count();
        scored.truncate(near.max(MIN_CANDIDATES));
        Ok(scored
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
            place: default_place(target),
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
