//! Where a track sits on the two axes of musical mood — valence (sad ↔ happy) and arousal
//! (calm ↔ energetic), Russell's circumplex as music research uses it — and which of the
//! seven emotions lie near that place.
//!
//! The place comes from the audio [`Features`], from a mood tag someone wrote into the file
//! (ID3 `TMOO`, Vorbis `MOOD`, Picard's and AcousticBrainz's mood words), or from
//! `catalogue.toml`, in rising order of trust.

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};
use xpressify_protocol::Emotion;

use super::features::Features;

/// A point on the valence/arousal plane, both axes 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// 0 sad, dark … 1 happy, bright.
    pub valence: f32,
    /// 0 calm, quiet … 1 energetic, loud.
    pub arousal: f32,
}

// Places are validated finite (config, store, features), so bitwise equality is equality.
impl Eq for Place {}

impl Hash for Place {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.valence.to_bits().hash(state);
        self.arousal.to_bits().hash(state);
    }
}

impl Place {
    /// A place with both axes clamped into 0..=1 (NaN becomes the middle).
    pub fn new(valence: f32, arousal: f32) -> Place {
        let clamp = |v: f32| {
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.5
            }
        };
        Place {
            valence: round3(clamp(valence)),
            arousal: round3(clamp(arousal)),
        }
    }

    /// Euclidean distance on the plane.
    pub fn distance(self, other: Place) -> f32 {
        (self.valence - other.valence).hypot(self.arousal - other.arousal)
    }

    /// Whether both axes are finite and within 0..=1 (for places read from outside).
    pub fn is_valid(self) -> bool {
        (0.0..=1.0).contains(&self.valence) && (0.0..=1.0).contains(&self.arousal)
    }
}

fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

/// How far from an emotion's place a track still suits it. Neighbouring emotions' places
/// are 0.2–0.35 apart, so a track suits one to three of them.
pub const SUITS_WITHIN: f32 = 0.2;

/// The default place of each emotion's music under `match`, from where listeners put music
/// that expresses it (the circumplex positions in Eerola & Vuoskoski 2011's film-music set;
/// anger and fear share low valence and high arousal, fear lower and darker, disgust in
/// between).
pub fn default_place(emotion: Emotion) -> Place {
    let (v, a) = match emotion {
        Emotion::Angry => (0.2, 0.85),
        Emotion::Disgust => (0.3, 0.6),
        Emotion::Fear => (0.15, 0.45),
        Emotion::Happy => (0.8, 0.65),
        Emotion::Sad => (0.25, 0.2),
        Emotion::Surprise => (0.7, 0.9),
        Emotion::Neutral => (0.6, 0.35),
    };
    Place::new(v, a)
}

/// The emotions whose places (from `place_of`) lie within [`SUITS_WITHIN`] of `place`,
/// nearest first; at least the nearest one, so every track suits some mood.
pub fn moods_near(place: Place, place_of: impl Fn(Emotion) -> Place) -> Vec<Emotion> {
    let mut by_distance: Vec<(f32, Emotion)> = Emotion::ALL
        .iter()
        .map(|&e| (place.distance(place_of(e)), e))
        .collect();
    by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut moods: Vec<Emotion> = by_distance
        .iter()
        .take_while(|(d, _)| *d <= SUITS_WITHIN)
        .map(|(_, e)| *e)
        .collect();
    if moods.is_empty() {
        moods.push(by_distance[0].1);
    }
    moods
}

/// Each cue scaled to 0..=1 over the range real recordings span.
fn scaled(v: f32, low: f32, high: f32) -> f32 {
    ((v - low) / (high - low)).clamp(0.0, 1.0)
}

/// The place the audio suggests.
///
/// Arousal: tempo (60–180 BPM), loudness (−30 to −8 dBFS: quiet classical to a mastered pop
/// master), brightness (600–2,600 Hz centroid) and pulse clarity, weighted 0.35, 0.3, 0.2,
/// 0.15 in the order of their effect sizes in the literature (tempo and loudness strongest).
/// Valence: 0.5, moved by mode first (±0.35 from a clear minor to a clear major key), then
/// tempo and brightness (±0.1 and ±0.05), as in the same reviews: fast, bright, major music
/// reads happy; slow, dark, minor reads sad. The weights were set from those sources
/// before the evaluation in docs/music-library.md, not fitted to it.
pub fn place_of_features(f: &Features) -> Place {
    let tempo = scaled(f.tempo_bpm, 60.0, 180.0);
    let loud = scaled(f.loudness_db, -30.0, -8.0);
    let bright = scaled(f.brightness_hz, 600.0, 2600.0);
    let pulse = f.pulse.clamp(0.0, 1.0);
    // A correlation difference of ±0.25 is a clear key; a mix of both reads near 0.
    let mode = (f.mode / 0.25).clamp(-1.0, 1.0);
    let arousal = 0.35 * tempo + 0.3 * loud + 0.2 * bright + 0.15 * pulse;
    let valence = 0.5 + 0.35 * mode + 0.1 * (2.0 * tempo - 1.0) + 0.05 * (2.0 * bright - 1.0);
    Place::new(valence, arousal)
}

/// Mood words as taggers write them, with their places. Longer lists (AcousticBrainz's
/// `mood_happy`, Picard's plug-ins, Last.fm-style tags) reduce to these.
const MOOD_WORDS: &[(&str, f32, f32)] = &[
    ("happy", 0.8, 0.65),
    ("joyful", 0.85, 0.7),
    ("cheerful", 0.8, 0.6),
    ("upbeat", 0.75, 0.75),
    ("uplifting", 0.75, 0.6),
    ("fun", 0.8, 0.7),
    ("party", 0.75, 0.85),
    ("euphoric", 0.8, 0.9),
    ("energetic", 0.65, 0.9),
    ("exciting", 0.65, 0.85),
    ("excited", 0.7, 0.85),
    ("surprise", 0.7, 0.9),
    ("powerful", 0.5, 0.85),
    ("angry", 0.2, 0.85),
    ("aggressive", 0.2, 0.9),
    ("intense", 0.3, 0.85),
    ("furious", 0.15, 0.95),
    ("disgust", 0.3, 0.6),
    ("gritty", 0.35, 0.65),
    ("fear", 0.15, 0.45),
    ("scary", 0.15, 0.55),
    ("tense", 0.2, 0.6),
    ("dark", 0.2, 0.45),
    ("eerie", 0.2, 0.4),
    ("anxious", 0.2, 0.6),
    ("ominous", 0.15, 0.45),
    ("sad", 0.25, 0.2),
    ("melancholic", 0.25, 0.25),
    ("melancholy", 0.25, 0.25),
    ("gloomy", 0.2, 0.25),
    ("depressing", 0.15, 0.15),
    ("sorrowful", 0.2, 0.2),
    ("calm", 0.6, 0.2),
    ("relaxed", 0.65, 0.25),
    ("relaxing", 0.65, 0.25),
    ("peaceful", 0.65, 0.2),
    ("chill", 0.6, 0.3),
    ("mellow", 0.6, 0.3),
    ("soothing", 0.65, 0.2),
    ("dreamy", 0.6, 0.3),
    ("neutral", 0.6, 0.35),
    ("romantic", 0.7, 0.35),
    ("tender", 0.65, 0.25),
];

/// The place a free-text mood tag names ("Happy", "sad; calm", "Energetic/Aggressive"):
/// the mean of the words it knows; `None` when it knows none. A negated word ("not happy",
/// AcousticBrainz's style) is skipped rather than guessed at.
pub fn place_of_mood_tag(tag: &str) -> Option<Place> {
    let lower = tag.to_lowercase();
    let mut sum = (0.0, 0.0);
    let mut n = 0;
    for part in lower.split([';', ',', '/', '|', '\0']) {
        let words: Vec<&str> = part
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if words.contains(&"not") || words.contains(&"non") {
            continue;
        }
        for w in words {
            if let Some((_, v, a)) = MOOD_WORDS.iter().find(|(word, _, _)| *word == w) {
                sum.0 += v;
                sum.1 += a;
                n += 1;
            }
        }
    }
    (n > 0).then(|| Place::new(sum.0 / n as f32, sum.1 / n as f32))
}

/// The place of a hand-placed track: the mean of its moods' places.
pub fn place_of_moods(moods: &[Emotion], place_of: impl Fn(Emotion) -> Place) -> Option<Place> {
    if moods.is_empty() {
        return None;
    }
    let n = moods.len() as f32;
    let (v, a) = moods.iter().fold((0.0, 0.0), |(v, a), m| {
        let p = place_of(*m);
        (v + p.valence, a + p.arousal)
    });
    Some(Place::new(v / n, a / n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(tempo: f32, loud: f32, bright: f32, mode: f32) -> Features {
        Features {
            tempo_bpm: tempo,
            pulse: 0.5,
            loudness_db: loud,
            dynamics_db: 6.0,
            brightness_hz: bright,
            mode,
            key: String::new(),
        }
    }

    #[test]
    fn fast_loud_major_is_happy_and_slow_quiet_minor_is_sad() {
        let happy = place_of_features(&features(130.0, -10.0, 2000.0, 0.2));
        let sad = place_of_features(&features(64.0, -26.0, 800.0, -0.2));
        assert!(happy.valence > 0.7 && happy.arousal > 0.6, "{happy:?}");
        assert!(sad.valence < 0.3 && sad.arousal < 0.25, "{sad:?}");
        assert_eq!(moods_near(sad, default_place)[0], Emotion::Sad);
        assert!(moods_near(happy, default_place).contains(&Emotion::Happy));
    }

    #[test]
    fn every_emotion_is_near_its_own_place_and_every_place_suits_something() {
        for e in Emotion::ALL {
            assert_eq!(moods_near(default_place(e), default_place)[0], e);
        }
        assert_eq!(moods_near(Place::new(1.0, 0.0), default_place).len(), 1);
    }

    #[test]
    fn mood_tags_are_read_as_people_write_them() {
        let p = place_of_mood_tag("Happy").expect("known");
        assert_eq!(p, default_place(Emotion::Happy));
        let mixed = place_of_mood_tag("sad; calm").expect("known");
        assert!(mixed.arousal < 0.25 && mixed.valence < 0.5, "{mixed:?}");
        assert_eq!(place_of_mood_tag("Not happy"), None);
        assert_eq!(place_of_mood_tag("bouncy-ish"), None);
        assert_eq!(place_of_mood_tag(""), None);
    }

    #[test]
    fn places_are_clamped_and_hand_moods_average() {
        let p = Place::new(f32::NAN, 7.0);
        assert_eq!((p.valence, p.arousal), (0.5, 1.0));
        assert!(p.is_valid());
        let both = place_of_moods(&[Emotion::Sad, Emotion::Happy], default_place).expect("some");
        assert!((both.valence - 0.525).abs() < 1e-3, "{both:?}");
        assert_eq!(place_of_moods(&[], default_place), None);
    }
}
