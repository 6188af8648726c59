//! Learning from feedback: per emotion, a Beta belief over each search phrase, genre and
//! artist of the mapping, chosen by Thompson sampling.
//!
//! Each arm starts at Beta(1, 1) (no opinion). A like or a track played to its end is a
//! success, a dislike or a skip a failure; skips and played-out tracks weigh half as much as
//! an explicit verdict, since they also happen for reasons that have nothing to do with the
//! music. Sampling every arm's belief and taking the best keeps exploring arms with little
//! evidence while favouring the ones that worked. Evidence is capped, so tastes that change
//! are followed within a few dozen verdicts.

use rand::Rng;
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};
use xpressify_protocol::Emotion;

use crate::store::{Store, StoreError};

/// A listener's verdict on a pick, explicit or implied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// The pick suits the mood.
    Like,
    /// The pick does not suit the mood.
    Dislike,
    /// Skipped before its end.
    Skip,
    /// Played to its end.
    PlayedOut,
}

impl Feedback {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Feedback::Like => "like",
            Feedback::Dislike => "dislike",
            Feedback::Skip => "skip",
            Feedback::PlayedOut => "played_out",
        }
    }

    /// `(weight, reward)`: the arm's alpha grows by `weight * reward`, beta by the rest.
    fn evidence(self) -> (f64, f64) {
        match self {
            Feedback::Like => (1.0, 1.0),
            Feedback::Dislike => (1.0, 0.0),
            Feedback::Skip => (0.5, 0.0),
            Feedback::PlayedOut => (0.5, 1.0),
        }
    }
}

/// The kinds of arm, as stored: the search's phrase, genre and artist, and the track itself
/// where a source offers several to choose from (the local library).
pub const KINDS: [&str; 4] = ["variant", "genre", "artist", "track"];

/// The "add nothing" arm of genres and artists.
pub const NONE_ARM: &str = "";

/// Most evidence (alpha + beta − 2) an arm keeps; older evidence fades proportionally.
pub const MAX_EVIDENCE: f64 = 30.0;

/// The arms one pick used, to credit or blame them together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arms {
    /// The search phrase.
    pub variant: String,
    /// The genre, or [`NONE_ARM`].
    pub genre: String,
    /// The artist, or [`NONE_ARM`].
    pub artist: String,
    /// The local file played, or [`NONE_ARM`] for a YouTube pick (a video is chosen by its
    /// phrase; a library track by itself).
    pub track: String,
}

/// The learner, reading and writing its beliefs in the store.
pub struct Taste<'a> {
    store: &'a Store,
    room: &'a str,
}

impl<'a> Taste<'a> {
    /// A learner over `store`'s `taste` table, for `room`: each room learns its own taste.
    pub fn new(store: &'a Store, room: &'a str) -> Self {
        Taste { store, room }
    }

    /// Thompson-samples one of `options` for `emotion`; `None` when there are none.
    pub fn choose(
        &self,
        emotion: Emotion,
        kind: &str,
        options: &[String],
        rng: &mut impl Rng,
    ) -> Result<Option<String>, StoreError> {
        let beliefs = self.store.taste(self.room, emotion, kind)?;
        let mut best: Option<(f64, &String)> = None;
        for option in options {
            let (a, b) = beliefs
                .iter()
                .find(|(v, _, _)| v == option)
                .map(|(_, a, b)| (*a, *b))
                .unwrap_or((1.0, 1.0));
            // Alpha and beta are ≥ 1 by construction, which Beta::new accepts.
            let draw = Beta::new(a, b).map(|d| d.sample(rng)).unwrap_or(0.5);
            if best.is_none_or(|(d, _)| draw > d) {
                best = Some((draw, option));
            }
        }
        Ok(best.map(|(_, o)| o.clone()))
    }

    /// The mean of an arm's belief (0.5 without evidence), for people and tests.
    pub fn mean(&self, emotion: Emotion, kind: &str, value: &str) -> Result<f64, StoreError> {
        Ok(self
            .store
            .taste(self.room, emotion, kind)?
            .into_iter()
            .find(|(v, _, _)| v == value)
            .map(|(_, a, b)| a / (a + b))
            .unwrap_or(0.5))
    }

    /// Credits or blames every arm of a pick.
    pub fn learn(
        &self,
        emotion: Emotion,
        arms: &Arms,
        feedback: Feedback,
    ) -> Result<(), StoreError> {
        let (weight, reward) = feedback.evidence();
        for (kind, value) in [
            ("variant", &arms.variant),
            ("genre", &arms.genre),
            ("artist", &arms.artist),
            ("track", &arms.track),
        ] {
            if kind == "track" && value == NONE_ARM {
                continue;
            }
            let (mut a, mut b) = self
                .store
                .taste(self.room, emotion, kind)?
                .into_iter()
                .find(|(v, _, _)| v == value)
                .map(|(_, a, b)| (a, b))
                .unwrap_or((1.0, 1.0));
            a += weight * reward;
            b += weight * (1.0 - reward);
            let evidence = a + b - 2.0;
            if evidence > MAX_EVIDENCE {
                let k = MAX_EVIDENCE / evidence;
                a = 1.0 + (a - 1.0) * k;
                b = 1.0 + (b - 1.0) * k;
            }
            self.store
                .set_taste(self.room, emotion, kind, value, a, b)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn share_of(taste: &Taste<'_>, options: &[String], target: &str, seed: u64) -> f64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = 2000;
        let hits = (0..n)
            .filter(|_| {
                taste
                    .choose(Emotion::Sad, "variant", options, &mut rng)
                    .ok()
                    .flatten()
                    .as_deref()
                    == Some(target)
            })
            .count();
        hits as f64 / n as f64
    }

    #[test]
    fn dislikes_make_a_variant_measurably_rarer() {
        let store = Store::in_memory().expect("store");
        let taste = Taste::new(&store, "home");
        let options: Vec<String> = [
            "sad songs",
            "calm sad piano songs",
            "melancholic acoustic songs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let before = share_of(&taste, &options, "sad songs", 1);
        assert!((0.25..0.42).contains(&before), "uniform at first: {before}");
        let arms = Arms {
            variant: "sad songs".into(),
            genre: NONE_ARM.into(),
            artist: NONE_ARM.into(),
            track: NONE_ARM.into(),
        };
        for _ in 0..4 {
            taste
                .learn(Emotion::Sad, &arms, Feedback::Dislike)
                .expect("learn");
        }
        let after = share_of(&taste, &options, "sad songs", 2);
        assert!(after < before / 2.0, "before {before}, after {after}");
        // Other emotions are untouched.
        assert_eq!(
            taste
                .mean(Emotion::Happy, "variant", "sad songs")
                .expect("mean"),
            0.5
        );
    }

    #[test]
    fn likes_make_a_variant_more_common_and_evidence_is_capped() {
        let store = Store::in_memory().expect("store");
        let taste = Taste::new(&store, "home");
        let options: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let arms = Arms {
            variant: "b".into(),
            genre: NONE_ARM.into(),
            artist: NONE_ARM.into(),
            track: NONE_ARM.into(),
        };
        for _ in 0..100 {
            taste
                .learn(Emotion::Sad, &arms, Feedback::Like)
                .expect("learn");
        }
        assert!(share_of(&taste, &options, "b", 3) > 0.9);
        let beliefs = store.taste("home", Emotion::Sad, "variant").expect("taste");
        let (_, a, b) = &beliefs[0];
        assert!(a + b - 2.0 <= MAX_EVIDENCE + 1e-9, "{a} {b}");
        // Capped evidence still turns around after a run of dislikes.
        for _ in 0..40 {
            taste
                .learn(Emotion::Sad, &arms, Feedback::Dislike)
                .expect("learn");
        }
        assert!(taste.mean(Emotion::Sad, "variant", "b").expect("mean") < 0.5);
    }

    #[test]
    fn choosing_from_nothing_is_none() {
        let store = Store::in_memory().expect("store");
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(
            Taste::new(&store, "home")
                .choose(Emotion::Fear, "genre", &[], &mut rng)
                .expect("choose"),
            None
        );
    }
}
