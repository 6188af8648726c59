//! Durations as people type them, for every command-line flag and config key that takes one:
//! `90` or `1.5` (seconds), or numbers with units, `500ms`, `30s`, `2m`, `1h`, `1h30m`.
//! Config keys keep their plain numbers in their own unit (`debounce_ms = 30` is 30 ms), and
//! also take a string with a unit (`debounce_ms = "0.03s"`).

use std::time::Duration;

use serde::Deserializer;
use thiserror::Error;

/// What a duration can be written as, for error messages.
pub const EXAMPLES: &str = "90 (seconds), 1.5, 500ms, 30s, 2m, 1h or 1h30m";

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{text:?} is not a duration: write {EXAMPLES}")]
pub struct DurationError {
    /// The text as given.
    pub text: String,
}

/// Parses `text`: a bare number is seconds; otherwise one or more numbers each followed by a
/// unit (`ms`, `s`, `m`, `h`, `d`), added up. Negative, empty and overflowing texts are
/// refused.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    parse_with(text, Unit::Seconds)
}

/// [`parse`] for clap's `value_parser`: its message is printed after the flag's name.
pub fn parse_arg(text: &str) -> Result<Duration, String> {
    parse(text).map_err(|e| e.to_string())
}

/// The unit a bare number is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Millis,
    Seconds,
    Hours,
}

fn parse_with(text: &str, bare: Unit) -> Result<Duration, DurationError> {
    let error = || DurationError {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(error());
    }
    if let Ok(number) = trimmed.parse::<f64>() {
        return from_number(number, bare).ok_or_else(error);
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(error)?;
        let (number, after) = rest.split_at(digits);
        let number: f64 = number.parse().map_err(|_| error())?;
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let seconds = match unit {
            "ms" => number / 1000.0,
            "s" | "sec" | "secs" => number,
            "m" | "min" | "mins" => number * 60.0,
            "h" | "hr" | "hrs" => number * 3600.0,
            "d" => number * 86_400.0,
            _ => return Err(error()),
        };
        let part = from_number(seconds, Unit::Seconds).ok_or_else(error)?;
        total = total.checked_add(part).ok_or_else(error)?;
        rest = after.trim_start();
    }
    Ok(total)
}

fn from_number(number: f64, unit: Unit) -> Option<Duration> {
    let seconds = match unit {
        Unit::Millis => number / 1000.0,
        Unit::Seconds => number,
        Unit::Hours => number * 3600.0,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// A config value in seconds (`f64`): a number of seconds or a string with a unit.
pub fn seconds_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(DurationVisitor(Unit::Seconds))
        .map(|d| d.as_secs_f64())
}

/// A config value in seconds (`f32`): a number of seconds or a string with a unit.
pub fn seconds_f32<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    d.deserialize_any(DurationVisitor(Unit::Seconds))
        .map(|d| d.as_secs_f32())
}

/// A config value in whole seconds (`u16`, e.g. MQTT's keep-alive).
pub fn seconds_u16<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let duration = d.deserialize_any(DurationVisitor(Unit::Seconds))?;
    if duration.subsec_nanos() != 0 {
        return Err(serde::de::Error::custom(format!(
            "{duration:?} is not a whole number of seconds"
        )));
    }
    u16::try_from(duration.as_secs())
        .map_err(|_| serde::de::Error::custom(format!("{duration:?} is over {} seconds", u16::MAX)))
}

/// A config value in milliseconds (`u64`): a number of milliseconds or a string with a unit.
pub fn millis_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let duration = d.deserialize_any(DurationVisitor(Unit::Millis))?;
    u64::try_from(duration.as_millis())
        .map_err(|_| serde::de::Error::custom(format!("{duration:?} is too long")))
}

/// A config value in whole hours (`u32`): a number of hours or a string with a unit.
pub fn hours_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let duration = d.deserialize_any(DurationVisitor(Unit::Hours))?;
    let secs = duration.as_secs();
    if duration.subsec_nanos() != 0 || secs % 3600 != 0 {
        return Err(serde::de::Error::custom(format!(
            "{duration:?} is not a whole number of hours"
        )));
    }
    u32::try_from(secs / 3600)
        .map_err(|_| serde::de::Error::custom(format!("{duration:?} is too long")))
}

struct DurationVisitor(Unit);

impl DurationVisitor {
    fn unit_name(&self) -> &'static str {
        match self.0 {
            Unit::Millis => "milliseconds",
            Unit::Seconds => "seconds",
            Unit::Hours => "hours",
        }
    }
}

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "a number of {} or a duration such as \"30s\"",
            self.unit_name()
        )
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
        from_number(v, self.0).ok_or_else(|| {
            E::custom(format!(
                "{v} is not a duration: use a number of {} ≥ 0, or {EXAMPLES}",
                self.unit_name()
            ))
        })
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
        self.visit_f64(v as f64)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
        self.visit_f64(v as f64)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_with(v, self.0).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_write_durations_in_many_ways() {
        let cases = [
            ("90", 90.0),
            ("1.5", 1.5),
            ("0", 0.0),
            ("30s", 30.0),
            ("500ms", 0.5),
            ("2m", 120.0),
            ("1h", 3600.0),
            ("1h30m", 5400.0),
            ("1m 30s", 90.0),
            ("30 s", 30.0),
            (" 2.5 ", 2.5),
            ("2.5s", 2.5),
            ("1d", 86_400.0),
        ];
        for (text, seconds) in cases {
            let got = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(
                (got.as_secs_f64() - seconds).abs() < 1e-9,
                "{text}: {got:?}"
            );
        }
    }

    #[test]
    fn nonsense_is_refused_with_examples() {
        for text in [
            "", "abc", "-5", "5x", "s", "1h-2m", "NaN", "inf", "1e400", "30 s x",
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.to_string().contains("30s"), "{text}: {err}");
        }
    }

    #[derive(serde::Deserialize, Debug)]
    struct Keys {
        #[serde(deserialize_with = "seconds_f64")]
        wait_s: f64,
        #[serde(deserialize_with = "seconds_u16")]
        keep_alive_s: u16,
        #[serde(deserialize_with = "millis_u64")]
        debounce_ms: u64,
    }

    #[test]
    fn config_keys_take_numbers_in_their_unit_or_strings_with_one() {
        let keys: Keys =
            toml::from_str("wait_s = 2\nkeep_alive_s = \"1m\"\ndebounce_ms = 30").expect("parses");
        assert_eq!(keys.wait_s, 2.0);
        assert_eq!(keys.keep_alive_s, 60);
        assert_eq!(keys.debounce_ms, 30);
        let keys: Keys =
            toml::from_str("wait_s = \"1.5s\"\nkeep_alive_s = 30\ndebounce_ms = \"0.05s\"")
                .expect("parses");
        assert_eq!(keys.wait_s, 1.5);
        assert_eq!(keys.debounce_ms, 50);
        let err = toml::from_str::<Keys>("wait_s = \"soon\"\nkeep_alive_s = 30\ndebounce_ms = 1")
            .expect_err("refused");
        assert!(err.to_string().contains("wait_s"), "{err}");
        assert!(err.to_string().contains("30s"), "{err}");
        let err = toml::from_str::<Keys>("wait_s = 1\nkeep_alive_s = \"1.5s\"\ndebounce_ms = 1")
            .expect_err("refused");
        assert!(err.to_string().contains("whole number"), "{err}");
    }
}
