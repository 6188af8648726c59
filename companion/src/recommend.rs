//! From a mood to one pick: the mapping gives the phrases, the learned taste chooses among
//! them, the sources search in order, and recent picks are not repeated.
//!
//! Sources are tried in order (YouTube, then the local catalogue; the other way round when
//! `music.prefer_local` is set); when every source fails or has nothing new, earlier YouTube
//! picks for the same mood are replayed, so a box without internet still plays something
//! that suited the mood before.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tracing::{info, warn};
use xpressify_protocol::{Emotion, Track};

use crate::mapping::{Mapping, Query};
use crate::source::{AnySource, Candidate, LocalCatalogue, Source, YoutubeSource};
use crate::store::{PickRecord, Store, StoreError, track_parts};
use crate::taste::{Arms, NONE_ARM, Taste};

/// Why no pick could be made at all.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every source failed and nothing was ever played for the mood.
    #[error("no music for {mood}: {reasons}")]
    NothingToPlay {
        /// The mood.
        mood: Emotion,
        /// Each source's failure.
        reasons: String,
    },
}

/// The recommender's settings.
#[derive(Debug, Clone)]
pub struct RecommendOptions {
    /// Try the local catalogue before YouTube.
    pub prefer_local: bool,
    /// How many recent picks must not be repeated.
    pub avoid_recent: usize,
    /// Among the fresh candidates of a search, choose at random from this many best.
    pub choose_from_top: usize,
}

/// The recommender.
pub struct Recommender {
    store: Arc<Store>,
    youtube: Option<YoutubeSource>,
    local: Option<LocalCatalogue>,
    mapping: RwLock<Mapping>,
    options: RecommendOptions,
    rng: Mutex<StdRng>,
}

/// The store key of a mapping edited at run time.
pub const MAPPING_SETTING: &str = "music.mapping";

impl Recommender {
    /// A recommender over the given sources. A mapping saved in the store (an edit made at
    /// run time) wins over `configured`.
    pub fn new(
        store: Arc<Store>,
        youtube: Option<YoutubeSource>,
        local: Option<LocalCatalogue>,
        configured: Mapping,
        options: RecommendOptions,
        seed: Option<u64>,
    ) -> Result<Self, StoreError> {
        let mut mapping = configured;
        if let Some(saved) = store.setting(MAPPING_SETTING)? {
            match serde_json::from_str::<Mapping>(&saved)
                .map_err(|e| e.to_string())
                .and_then(|m| m.normalized().map_err(|e| e.to_string()))
            {
                Ok(m) => mapping = m,
                Err(e) => warn!(error = %e, "ignoring the saved music mapping; using the config's"),
            }
        }
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => rand::make_rng(),
        };
        Ok(Recommender {
            store,
            youtube,
            local,
            mapping: RwLock::new(mapping),
            options,
            rng: Mutex::new(rng),
        })
    }

    /// The mapping in use.
    pub fn mapping(&self) -> Mapping {
        self.mapping
            .read()
            .map(|m| m.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Replaces the mapping (validated) and saves it so it survives a restart.
    pub fn set_mapping(&self, mapping: Mapping) -> Result<Mapping, String> {
        let mapping = mapping.normalized().map_err(|e| e.to_string())?;
        let json = serde_json::to_string(&mapping).map_err(|e| e.to_string())?;
        self.store
            .set_setting(MAPPING_SETTING, &json)
            .map_err(|e| e.to_string())?;
        match self.mapping.write() {
            Ok(mut m) => *m = mapping.clone(),
            Err(p) => *p.into_inner() = mapping.clone(),
        }
        Ok(mapping)
    }

    /// The YouTube source, for its health.
    pub fn youtube(&self) -> Option<&YoutubeSource> {
        self.youtube.as_ref()
    }

    /// The local catalogue, for the sinks that play its files.
    pub fn local(&self) -> Option<&LocalCatalogue> {
        self.local.as_ref()
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut rng)
    }

    /// Builds the query for a mood in `room`: phrase, genre and artist chosen by the room's
    /// learned taste.
    pub fn query_for(&self, room: &str, mood: Emotion) -> Result<Query, StoreError> {
        let mapping = self.mapping();
        let entry = mapping.entry(mood);
        let taste = Taste::new(&self.store, room);
        let with_none = |list: &[String]| {
            let mut v = vec![NONE_ARM.to_string()];
            v.extend(list.iter().cloned());
            v
        };
        let phrases = mapping.phrases(mood);
        let variant = self
            .with_rng(|rng| taste.choose(mood, "variant", &phrases, rng))?
            .unwrap_or_else(|| mood.to_string());
        let genre = if entry.genres.is_empty() {
            None
        } else {
            self.with_rng(|rng| taste.choose(mood, "genre", &with_none(&entry.genres), rng))?
                .filter(|g| g != NONE_ARM)
        };
        let artist = if entry.artists.is_empty() {
            None
        } else {
            self.with_rng(|rng| taste.choose(mood, "artist", &with_none(&entry.artists), rng))?
                .filter(|a| a != NONE_ARM)
        };
        let language = if entry.languages.is_empty() {
            None
        } else {
            let i = self.with_rng(|rng| rng.random_range(0..entry.languages.len()));
            entry.languages.get(i).cloned()
        };
        Ok(Query {
            mood,
            target: mapping.target_mood(mood),
            place: mapping.place(mood),
            variant,
            genre,
            artist,
            language,
        })
    }

    /// Decides the next pick for `room`, whose music follows `device`'s `mood`, and records
    /// it; without `youtube`, from the local catalogue only (a room whose player cannot play
    /// YouTube picks).
    pub async fn pick(
        &self,
        room: &str,
        device: &str,
        mood: Emotion,
        at_ms: u64,
        youtube: bool,
    ) -> Result<PickRecord, RecommendError> {
        let query = self.query_for(room, mood)?;
        // Recent picks, newest first: a track's index is how many picks ago it played.
        let recent: Vec<(String, String)> = self
            .store
            .recent_picks(self.options.avoid_recent)?
            .iter()
            .map(|p| {
                let (s, k) = track_parts(&p.track);
                (s.to_string(), k.to_string())
            })
            .collect();
        let fresh_set: HashSet<&(String, String)> = recent.iter().collect();
        let is_recent = |c: &Candidate| {
            let (s, k) = track_parts(&c.track);
            fresh_set.contains(&(s.to_string(), k.to_string()))
        };
        let mut reasons = Vec::new();
        let youtube = self
            .youtube
            .as_ref()
            .filter(|_| youtube)
            .map(AnySource::Youtube);
        let local = self.local.as_ref().map(AnySource::Local);
        let order = if self.options.prefer_local {
            [local, youtube]
        } else {
            [youtube, local]
        };
        let mut chosen: Option<Candidate> = None;
        // How the pick was found when no search gave a fresh one, for its reason.
        let mut fallback: Option<String> = None;
        // Candidates that all played recently: better a repeat than silence.
        let mut stale: Vec<Candidate> = Vec::new();
        for source in order.into_iter().flatten() {
            match source.search(&query).await {
                Ok(found) => {
                    let (old, fresh): (Vec<_>, Vec<_>) =
                        found.into_iter().partition(|c| is_recent(c));
                    match self.choose(room, mood, fresh)? {
                        Some(c) => {
                            chosen = Some(c);
                            break;
                        }
                        None => {
                            reasons.push(format!("{}: only recent picks", source.name()));
                            stale.extend(old);
                        }
                    }
                }
                Err(e) => reasons.push(format!("{}: {e}", source.name())),
            }
        }
        if chosen.is_none() {
            // Replay what suited the mood before and has not played lately.
            let past = self.store.past_picks_for(mood, "youtube", 200)?;
            chosen = past
                .iter()
                .map(|p| Candidate {
                    track: p.track.clone(),
                    title: p.title.clone(),
                    artist: p.artist.clone(),
                })
                .find(|c| !is_recent(c));
            if chosen.is_some() {
                info!(%mood, reasons = %reasons.join("; "), "replaying an earlier pick");
                fallback = Some(format!("replayed an earlier pick: {}", reasons.join("; ")));
            }
        }
        if chosen.is_none() {
            // Everything at hand played lately: the one that played longest ago.
            let age = |c: &Candidate| {
                let (s, k) = track_parts(&c.track);
                recent
                    .iter()
                    .position(|r| r.0 == s && r.1 == k)
                    .unwrap_or(usize::MAX)
            };
            chosen = stale.into_iter().max_by_key(age);
            if chosen.is_some() {
                fallback =
                    Some("every fitting track played lately: the one heard longest ago".into());
            }
        }
        let Some(candidate) = chosen else {
            return Err(RecommendError::NothingToPlay {
                mood,
                reasons: if reasons.is_empty() {
                    "no source is configured (set youtube.api_key or local.folder)".into()
                } else {
                    reasons.join("; ")
                },
            });
        };
        let reason = self.reason(room, &query, &candidate.track, fallback)?;
        let record = PickRecord {
            id: 0,
            room: room.to_string(),
            device: device.to_string(),
            mood,
            query: query.text(),
            variant: query.variant.clone(),
            genre: query.genre.clone().unwrap_or_default(),
            artist_arm: query.artist.clone().unwrap_or_default(),
            track: candidate.track,
            title: candidate.title,
            artist: candidate.artist,
            at_ms,
            reason,
        };
        Ok(self.store.record_pick(record)?)
    }

    /// Why a pick was made, in words for the page and Home Assistant: the mood and the
    /// policy, the phrase (with genre and artist), what this room has taught about that
    /// phrase, and where the track came from.
    fn reason(
        &self,
        room: &str,
        query: &Query,
        track: &Track,
        fallback: Option<String>,
    ) -> Result<String, StoreError> {
        let mut parts = Vec::new();
        parts.push(if query.target == query.mood {
            format!("for {}", query.mood)
        } else {
            format!(
                "for {}, lifted towards {} (policy lift)",
                query.mood, query.target
            )
        });
        if let (Track::Local { file }, None) = (track, &fallback) {
            parts.push(self.local_reason(file));
            parts.push(rating(
                &self.store.taste(room, query.mood, "track")?,
                file,
                "track",
            ));
            return Ok(parts.join(" · "));
        }
        let mut phrase = format!("phrase \"{}\"", query.variant);
        if let Some(g) = &query.genre {
            phrase.push_str(&format!(", genre {g}"));
        }
        if let Some(a) = &query.artist {
            phrase.push_str(&format!(", artist {a}"));
        }
        parts.push(phrase);
        parts.push(rating(
            &self.store.taste(room, query.mood, "variant")?,
            &query.variant,
            "phrase",
        ));
        parts.push(match (track, fallback) {
            (_, Some(how)) => how,
            (Track::Youtube { .. }, None) => "from YouTube".into(),
            (Track::Local { .. }, None) => "from your music".into(),
        });
        Ok(parts.join(" · "))
    }

    /// Where a library track sits and who put it there, for its pick's reason.
    fn local_reason(&self, file: &str) -> String {
        let Some(t) = self
            .local
            .as_ref()
            .and_then(|c| c.tracks().iter().find(|t| t.file == file).cloned())
        else {
            return "from your music".into();
        };
        let by = match t.source {
            crate::library::PlaceSource::Audio => "its sound",
            crate::library::PlaceSource::Tag => "its mood tag",
            crate::library::PlaceSource::Catalogue => "catalogue.toml",
            crate::library::PlaceSource::Listener => "a listener",
        };
        let moods: Vec<&str> = t.moods.iter().map(|m| m.as_str()).collect();
        format!(
            "from your music: placed by {by} at valence {:.2}, arousal {:.2} (suits {})",
            t.place.valence,
            t.place.arousal,
            moods.join(", ")
        )
    }

    /// One of the best `choose_from_top` fresh candidates: for library tracks, the one the
    /// room's likes and skips favour (Thompson sampling over each track, as over phrases: an
    /// unrated track is as likely as any, a disliked one rarely comes back); for videos, one
    /// at random (their phrase was already chosen that way).
    fn choose(
        &self,
        room: &str,
        mood: Emotion,
        mut fresh: Vec<Candidate>,
    ) -> Result<Option<Candidate>, StoreError> {
        fresh.truncate(self.options.choose_from_top.max(1));
        if fresh.is_empty() {
            return Ok(None);
        }
        let files: Vec<String> = fresh
            .iter()
            .filter_map(|c| match &c.track {
                Track::Local { file } => Some(file.clone()),
                Track::Youtube { .. } => None,
            })
            .collect();
        if files.len() == fresh.len() {
            let taste = Taste::new(&self.store, room);
            let best = self.with_rng(|rng| taste.choose(mood, "track", &files, rng))?;
            if let Some(i) = best.and_then(|b| files.iter().position(|f| *f == b)) {
                return Ok(Some(fresh.swap_remove(i)));
            }
        }
        let i = self.with_rng(|rng| rng.random_range(0..fresh.len()));
        Ok(Some(fresh.swap_remove(i)))
    }

    /// Credits or blames the arms of a pick.
    pub fn learn(
        &self,
        pick: &PickRecord,
        feedback: crate::taste::Feedback,
    ) -> Result<(), StoreError> {
        let arms = Arms {
            variant: pick.variant.clone(),
            genre: pick.genre.clone(),
            artist: pick.artist_arm.clone(),
            track: match &pick.track {
                Track::Local { file } => file.clone(),
                Track::Youtube { .. } => crate::taste::NONE_ARM.into(),
            },
        };
        Taste::new(&self.store, &pick.room).learn(pick.mood, &arms, feedback)?;
        self.store
            .record_feedback(pick.id, feedback, crate::clock::now_ms())
    }
}

/// What a room's likes and skips taught about one arm (`what`: "phrase", "track"), in words.
fn rating(beliefs: &[(String, f64, f64)], arm: &str, what: &str) -> String {
    match beliefs
        .iter()
        .find(|(v, _, _)| v == arm)
        .map(|(_, a, b)| (*a, *b))
        .filter(|(a, b)| a + b - 2.0 >= 0.5)
    {
        Some((a, b)) => format!(
            "this room rated that {what} {:.0} % good ({:.0} likes or full plays against {:.0} skips or dislikes)",
            100.0 * a / (a + b),
            a - 1.0,
            b - 1.0
        ),
        None => format!("a {what} this room has not rated yet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_with(n: usize) -> (tempfile::TempDir, LocalCatalogue) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut toml = String::new();
        for i in 0..n {
            std::fs::write(dir.path().join(format!("{i}.ogg")), b"x").expect("write");
            toml.push_str(&format!(
                "[[track]]\nfile = \"{i}.ogg\"\ntitle = \"T{i}\"\nmoods = [\"happy\", \"sad\"]\n"
            ));
        }
        std::fs::write(dir.path().join("catalogue.toml"), toml).expect("write");
        let c = LocalCatalogue::open(dir.path()).expect("catalogue");
        (dir, c)
    }

    fn options() -> RecommendOptions {
        RecommendOptions {
            prefer_local: false,
            avoid_recent: 3,
            choose_from_top: 5,
        }
    }

    /// A recommender over a fresh in-memory store and a catalogue of `tracks` files.
    fn with_catalogue(tracks: usize, seed: u64) -> (tempfile::TempDir, Arc<Store>, Recommender) {
        let store = Arc::new(Store::in_memory().expect("store"));
        let (dir, local) = local_with(tracks);
        let r = Recommender::new(
            store.clone(),
            None,
            Some(local),
            Mapping::default(),
            options(),
            Some(seed),
        )
        .expect("recommender");
        (dir, store, r)
    }

    #[tokio::test]
    async fn a_disliked_library_track_rarely_comes_back_and_a_liked_one_often_does() {
        // Five sad tracks, no recent-pick rule: only the room's feedback tells them apart.
        let store = Arc::new(Store::in_memory().expect("store"));
        let (_dir, local) = local_with(5);
        let r = Recommender::new(
            store.clone(),
            None,
            Some(local),
            Mapping::default(),
            RecommendOptions {
                avoid_recent: 0,
                ..options()
            },
            Some(11),
        )
        .expect("recommender");
        let share = |file: &'static str| {
            let r = &r;
            async move {
                let mut hits = 0;
                for i in 0..200 {
                    let p = r
                        .pick("home", "d", Emotion::Sad, i, true)
                        .await
                        .expect("pick");
                    hits += usize::from(p.track == Track::Local { file: file.into() });
                }
                hits as f64 / 200.0
            }
        };
        let before = share("0.ogg").await;
        assert!(
            (0.1..0.32).contains(&before),
            "one in five at first: {before}"
        );
        let last = |file: &str| {
            store
                .recent_picks(500)
                .expect("picks")
                .into_iter()
                .find(|p| p.track == Track::Local { file: file.into() })
                .expect("it was picked")
        };
        let disliked = last("0.ogg");
        let liked = last("1.ogg");
        for _ in 0..5 {
            r.learn(&disliked, crate::taste::Feedback::Dislike)
                .expect("learn");
            r.learn(&liked, crate::taste::Feedback::Like)
                .expect("learn");
        }
        let after = share("0.ogg").await;
        assert!(after < before / 3.0, "disliked: {before} → {after}");
        assert!(share("1.ogg").await > 0.5, "liked");
        // Other rooms and moods learned nothing.
        let taste = Taste::new(&store, "bedroom");
        assert_eq!(
            taste.mean(Emotion::Sad, "track", "0.ogg").expect("mean"),
            0.5
        );
    }

    #[tokio::test]
    async fn picks_avoid_recent_ones_and_are_recorded() {
        let (_dir, store, r) = with_catalogue(4, 7);
        let mut seen = Vec::new();
        for i in 0..4 {
            let p = r
                .pick("home", "kitchen", Emotion::Happy, i, true)
                .await
                .expect("pick");
            assert!(
                !seen.contains(&p.track),
                "repeated {:?} within {seen:?}",
                p.track
            );
            seen.push(p.track.clone());
            if seen.len() > 3 {
                seen.remove(0);
            }
        }
        assert_eq!(store.recent_picks(10).expect("picks").len(), 4);
    }

    #[tokio::test]
    async fn a_small_catalogue_repeats_the_least_recent_track_instead_of_going_silent() {
        let (_dir, _store, r) = with_catalogue(2, 3);
        let a = r
            .pick("home", "k", Emotion::Happy, 0, true)
            .await
            .expect("first");
        let b = r
            .pick("home", "k", Emotion::Happy, 1, true)
            .await
            .expect("second");
        assert_ne!(a.track, b.track);
        let c = r
            .pick("home", "k", Emotion::Happy, 2, true)
            .await
            .expect("a repeat, not silence");
        assert_eq!(c.track, a.track, "the one that played longest ago");
    }

    #[tokio::test]
    async fn without_any_source_the_error_says_what_to_configure() {
        let store = Arc::new(Store::in_memory().expect("store"));
        let r = Recommender::new(store, None, None, Mapping::default(), options(), Some(1))
            .expect("recommender");
        let err = r
            .pick("home", "k", Emotion::Sad, 0, true)
            .await
            .expect_err("nothing")
            .to_string();
        assert!(err.contains("local.folder"), "{err}");
    }

    #[test]
    fn an_edited_mapping_is_saved_and_wins_over_the_config_at_restart() {
        let store = Arc::new(Store::in_memory().expect("store"));
        let r = Recommender::new(
            store.clone(),
            None,
            None,
            Mapping::default(),
            options(),
            Some(1),
        )
        .expect("recommender");
        let mut m = r.mapping();
        m.policy = crate::mapping::Policy::Lift;
        r.set_mapping(m).expect("saved");
        let again = Recommender::new(store, None, None, Mapping::default(), options(), Some(1))
            .expect("recommender");
        assert_eq!(again.mapping().policy, crate::mapping::Policy::Lift);
    }
}
