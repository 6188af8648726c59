//! What a file's tags say (lofty: ID3v1/v2, Vorbis comments, MP4 atoms, APE, RIFF INFO):
//! title, artist, album, genre, year, BPM and any mood word, for the page and the place.

use std::path::Path;

use lofty::config::ParseOptions;
use lofty::prelude::*;
use lofty::probe::Probe;
use lofty::tag::Tag;

/// The tags the library uses; empty strings where a file has none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tags {
    /// Title (the file's name when untagged).
    pub title: String,
    /// Artist.
    pub artist: String,
    /// Album.
    pub album: String,
    /// Genre.
    pub genre: String,
    /// Year of recording or release.
    pub year: Option<u32>,
    /// Beats per minute, where a tagger measured them.
    pub bpm: Option<f32>,
    /// A mood word or list, as written (ID3 `TMOO`, Vorbis `MOOD`, iTunes' `MOOD`, a
    /// `TXXX:MOOD` frame).
    pub mood: Option<String>,
}

/// Reads `path`'s tags. A file without tags, or with tags lofty cannot read, gives the
/// file name as the title and nothing else: the audio still places it.
pub fn read(path: &Path) -> Tags {
    let fallback = Tags {
        title: title_from_name(path),
        ..Tags::default()
    };
    let tagged = Probe::open(path)
        .and_then(|p| {
            p.options(ParseOptions::new().read_properties(false))
                .guess_file_type()
                .map_err(Into::into)
        })
        .and_then(|p| p.read());
    let Ok(tagged) = tagged else {
        return fallback;
    };
    let Some(tag) = tagged.primary_tag().or_else(|| tagged.first_tag()) else {
        return fallback;
    };
    let text =
        |v: Option<std::borrow::Cow<'_, str>>| v.map(|s| clean(&s)).filter(|s| !s.is_empty());
    Tags {
        title: text(tag.title()).unwrap_or(fallback.title),
        artist: text(tag.artist()).unwrap_or_default(),
        album: text(tag.album()).unwrap_or_default(),
        genre: text(tag.genre()).unwrap_or_default(),
        year: tag.year().filter(|y| (1000..=9999).contains(y)),
        bpm: bpm(tag),
        mood: mood(tag),
    }
}

/// One line, control characters dropped, at most 200 characters: tags come from anywhere.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

fn bpm(tag: &Tag) -> Option<f32> {
    [ItemKey::Bpm, ItemKey::IntegerBpm]
        .iter()
        .filter_map(|k| tag.get_string(k))
        .filter_map(|s| s.trim().replace(',', ".").parse::<f32>().ok())
        .find(|b| (30.0..=300.0).contains(b))
}

fn mood(tag: &Tag) -> Option<String> {
    let unknown_mood = tag.items().find_map(|item| match item.key() {
        ItemKey::Unknown(k) if k.eq_ignore_ascii_case("mood") || k.ends_with(":MOOD") => {
            item.value().text()
        }
        _ => None,
    });
    tag.get_string(&ItemKey::Mood)
        .or(unknown_mood)
        .map(clean)
        .filter(|s| !s.is_empty())
}

/// "02 - Rain_on the roof.mp3" → "Rain on the roof".
pub fn title_from_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spaced = stem.replace('_', " ");
    let trimmed = spaced
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start_matches([' ', '-', '.'])
        .trim();
    if trimmed.is_empty() {
        clean(&spaced)
    } else {
        clean(trimmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_untagged_file_is_titled_from_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("02 - Rain_on the roof.wav");
        std::fs::write(&path, crate::source::wav::pcm16_mono(&[0.0; 100], 8_000)).expect("write");
        let tags = read(&path);
        assert_eq!(tags.title, "Rain on the roof");
        assert_eq!(tags.artist, "");
        assert_eq!(tags.mood, None);
        let junk = dir.path().join("1999.mp3");
        std::fs::write(&junk, b"\xff\xfb not mp3").expect("write");
        assert_eq!(read(&junk).title, "1999", "a name of digits only stays");
    }
}
