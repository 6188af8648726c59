//! Emotion → music: per emotion, the search phrases, genres, languages and artists, and the
//! policy that says whether the music should match the mood or lift it.
//!
//! The defaults below are the table people start from (`happy` → "happy upbeat songs", the
//! paper's example); the config file can change any entry and the HTTP API edits it at run
//! time (saved in the store, so an edit survives a restart).

use std::collections::BTreeMap;
use xpressify_protocol::config::ConfigError;

use serde::{Deserialize, Serialize};
use xpressify_protocol::Emotion;

use crate::library::{Place, default_place};

/// Match the listener's mood, or try to lift it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Sad → calm, sad songs: music that keeps the listener company.
    #[default]
    Match,
    /// Sad → uplifting songs: music that tries to change the mood.
    Lift,
}

/// What to search for one emotion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EmotionMusic {
    /// Search phrases used under the `match` policy; one is chosen per pick (the learner
    /// prefers the ones the listener liked).
    #[serde(rename = "match")]
    pub match_queries: Vec<String>,
    /// Search phrases used under the `lift` policy; empty means "same as match".
    #[serde(rename = "lift")]
    pub lift_queries: Vec<String>,
    /// Genres that may be added to the phrase (e.g. "jazz"); empty: none.
    pub genres: Vec<String>,
    /// Artists that may be added to the phrase; empty: none.
    pub artists: Vec<String>,
    /// ISO 639-1 languages to prefer (YouTube's `relevanceLanguage`); empty: the source's
    /// default.
    pub languages: Vec<String>,
    /// The mood whose local-catalogue tracks are played under `lift` (e.g. sad → happy);
    /// `None`: the emotion itself.
    pub lift_to: Option<Emotion>,
    /// Where on the valence/arousal plane the scanned library's music for this emotion
    /// sits (`{ valence = 0.25, arousal = 0.2 }`); `None`: the default place
    /// ([`crate::library::default_place`]).
    pub place: Option<Place>,
}

/// The whole table and its policy, as kept in the config (`[music]`) and the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// `match` or `lift`.
    pub policy: Policy,
    /// One entry per emotion; missing emotions take the default entry.
    pub emotions: BTreeMap<Emotion, EmotionMusic>,
}

/// Longest search phrase accepted, in characters (YouTube truncates long `q`s anyway).
pub const MAX_PHRASE_CHARS: usize = 100;

fn phrases(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The default entry for one emotion.
pub fn default_for(emotion: Emotion) -> EmotionMusic {
    let (m, l, lift_to): (&[&str], &[&str], Option<Emotion>) = match emotion {
        Emotion::Angry => (
            &[
                "angry rock songs",
                "intense metal songs",
                "aggressive rap songs",
            ],
            &["calming songs to relax", "peaceful acoustic songs"],
            Some(Emotion::Neutral),
        ),
        Emotion::Disgust => (
            &["dark alternative songs", "grunge songs"],
            &["feel good classic songs", "cheerful pop songs"],
            Some(Emotion::Happy),
        ),
        Emotion::Fear => (
            &["dark ambient music", "tense soundtrack music"],
            &["comforting songs", "soothing piano music"],
            Some(Emotion::Neutral),
        ),
        Emotion::Happy => (
            &[
                "happy upbeat songs",
                "feel good pop songs",
                "summer dance hits",
            ],
            &[],
            None,
        ),
        Emotion::Sad => (
            &[
                "sad songs",
                "calm sad piano songs",
                "melancholic acoustic songs",
            ],
            &["uplifting songs", "happy upbeat songs to cheer up"],
            Some(Emotion::Happy),
        ),
        Emotion::Surprise => (
            &["energetic party songs", "upbeat electronic songs"],
            &[],
            None,
        ),
        Emotion::Neutral => (&["chill lofi music", "relaxing indie songs"], &[], None),
    };
    EmotionMusic {
        match_queries: phrases(m),
        lift_queries: phrases(l),
        lift_to,
        place: Some(default_place(emotion)),
        ..EmotionMusic::default()
    }
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            policy: Policy::Match,
            emotions: Emotion::ALL.iter().map(|&e| (e, default_for(e))).collect(),
        }
    }
}

impl Mapping {
    /// The entry for an emotion (the default entry if the table lacks it).
    pub fn entry(&self, emotion: Emotion) -> EmotionMusic {
        self.emotions
            .get(&emotion)
            .cloned()
            .unwrap_or_else(|| default_for(emotion))
    }

    /// The phrases to choose from for `emotion` under the current policy.
    pub fn phrases(&self, emotion: Emotion) -> Vec<String> {
        let e = self.entry(emotion);
        match self.policy {
            Policy::Lift if !e.lift_queries.is_empty() => e.lift_queries,
            _ => e.match_queries,
        }
    }

    /// The catalogue mood to play for `emotion` under the current policy.
    pub fn target_mood(&self, emotion: Emotion) -> Emotion {
        match self.policy {
            Policy::Match => emotion,
            Policy::Lift => self.entry(emotion).lift_to.unwrap_or(emotion),
        }
    }

    /// Where the library's music for `emotion` sits under the current policy (the place of
    /// the mood it is lifted to under `lift`).
    pub fn place(&self, emotion: Emotion) -> Place {
        let target = self.target_mood(emotion);
        self.entry(target)
            .place
            .unwrap_or_else(|| default_place(target))
    }

    /// Where each emotion's own music sits (whatever the policy): for the moods a track
    /// suits.
    pub fn own_place(&self, emotion: Emotion) -> Place {
        self.entry(emotion)
            .place
            .unwrap_or_else(|| default_place(emotion))
    }

    /// Fills missing emotions with defaults and trims phrases; refuses what would make a
    /// useless or abusive search, naming the entry (`music.emotions.sad.match[1]`).
    pub fn normalized(mut self) -> Result<Mapping, ConfigError> {
        for emotion in Emotion::ALL {
            self.emotions
                .entry(emotion)
                .or_insert_with(|| default_for(emotion));
        }
        for (emotion, e) in &mut self.emotions {
            let lists = [
                ("match", &mut e.match_queries),
                ("lift", &mut e.lift_queries),
                ("genres", &mut e.genres),
                ("artists", &mut e.artists),
                ("languages", &mut e.languages),
            ];
            for (name, list) in lists {
                for (i, item) in list.iter_mut().enumerate() {
                    let key = format!("music.emotions.{emotion}.{name}[{i}]");
                    *item = item.split_whitespace().collect::<Vec<_>>().join(" ");
                    if item.is_empty() {
                        return Err(ConfigError::invalid(key, "empty"));
                    }
                    if item.chars().count() > MAX_PHRASE_CHARS {
                        return Err(ConfigError::invalid(
                            key,
                            format!("longer than {MAX_PHRASE_CHARS} characters"),
                        ));
                    }
                    if name == "languages"
                        && !(item.len() == 2 && item.chars().all(|c| c.is_ascii_lowercase()))
                    {
                        return Err(ConfigError::invalid(
                            key,
                            format!("{item:?} is not a two-letter ISO 639-1 code such as \"en\""),
                        ));
                    }
                }
            }
            if let Some(place) = e.place
                && !place.is_valid()
            {
                return Err(ConfigError::invalid(
                    format!("music.emotions.{emotion}.place"),
                    "valence and arousal must each be between 0 and 1",
                ));
            }
            if e.match_queries.is_empty() {
                return Err(ConfigError::invalid(
                    format!("music.emotions.{emotion}.match"),
                    "at least one search phrase is needed",
                ));
            }
        }
        Ok(self)
    }
}

/// One search, built from the mapping and the learned taste.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Query {
    /// The listener's mood.
    pub mood: Emotion,
    /// The mood whose catalogue tracks suit (differs from `mood` under `lift`).
    pub target: Emotion,
    /// Where the library's tracks for `target` sit.
    pub place: Place,
    /// The phrase chosen from the mapping.
    pub variant: String,
    /// The genre added, if any.
    pub genre: Option<String>,
    /// The artist added, if any.
    pub artist: Option<String>,
    /// The language to prefer, if any.
    pub language: Option<String>,
}

impl Query {
    /// The text sent to a search engine: phrase, then genre, then artist.
    pub fn text(&self) -> String {
        let mut text = self.variant.clone();
        for extra in [&self.genre, &self.artist].into_iter().flatten() {
            text.push(' ');
            text.push_str(extra);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_example_comes_out_of_the_defaults_for_happy() {
        let m = Mapping::default();
        assert!(
            m.phrases(Emotion::Happy)
                .contains(&"happy upbeat songs".to_string())
        );
        let q = Query {
            mood: Emotion::Happy,
            target: Emotion::Happy,
            place: default_place(Emotion::Happy),
            variant: m.phrases(Emotion::Happy)[0].clone(),
            genre: None,
            artist: None,
            language: None,
        };
        assert_eq!(q.text(), "happy upbeat songs");
    }

    #[test]
    fn lift_changes_sad_phrases_and_target_but_not_happy() {
        let mut m = Mapping::default();
        assert!(m.phrases(Emotion::Sad).iter().any(|p| p == "sad songs"));
        m.policy = Policy::Lift;
        assert!(
            m.phrases(Emotion::Sad)
                .iter()
                .any(|p| p == "uplifting songs")
        );
        assert_eq!(m.target_mood(Emotion::Sad), Emotion::Happy);
        assert_eq!(
            m.phrases(Emotion::Happy),
            Mapping::default().phrases(Emotion::Happy)
        );
    }

    #[test]
    fn normalisation_fills_gaps_and_names_bad_entries() {
        let mut m = Mapping::default();
        m.emotions.remove(&Emotion::Fear);
        let mut sad = default_for(Emotion::Sad);
        sad.match_queries = vec!["  sad   songs ".into()];
        m.emotions.insert(Emotion::Sad, sad);
        let n = m.clone().normalized().expect("valid");
        assert_eq!(n.entry(Emotion::Fear), default_for(Emotion::Fear));
        assert_eq!(n.phrases(Emotion::Sad), vec!["sad songs".to_string()]);

        let mut bad = n.clone();
        if let Some(e) = bad.emotions.get_mut(&Emotion::Sad) {
            e.languages = vec!["English".into()];
        }
        let err = bad.normalized().expect_err("bad language");
        assert_eq!(err.key(), Some("music.emotions.sad.languages[0]"), "{err}");

        let mut empty = n;
        if let Some(e) = empty.emotions.get_mut(&Emotion::Angry) {
            e.match_queries.clear();
        }
        assert!(empty.normalized().is_err());
    }

    #[test]
    fn query_text_adds_genre_then_artist() {
        let q = Query {
            mood: Emotion::Sad,
            target: Emotion::Sad,
            place: default_place(Emotion::Sad),
            variant: "sad songs".into(),
            genre: Some("jazz".into()),
            artist: Some("Adele".into()),
            language: Some("en".into()),
        };
        assert_eq!(q.text(), "sad songs jazz Adele");
    }
}
