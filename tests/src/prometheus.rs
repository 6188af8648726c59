//! A strict reader of Prometheus' text exposition format (version 0.0.4), for checking what
//! `GET /metrics` answers: every line is a `# HELP`, a `# TYPE` or a sample with a valid name,
//! labels and value; a family's `# TYPE` comes before its samples; a histogram's buckets rise
//! in `le` and in count, end at `+Inf`, and agree with its `_count`.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};

/// One sample: its name, its labels in order of name, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name (with `_bucket`, `_sum` or `_count` for histograms).
    pub name: String,
    /// Label name → value.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// A parsed exposition: each family's type and every sample.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Family name → `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub types: BTreeMap<String, String>,
    /// Every sample, in order.
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The sum of the samples named `name` whose labels include every pair of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }
}

fn valid_name(name: &str, colons: bool) -> bool {
    let mut chars = name.chars();
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':');
    chars.next().is_some_and(first_ok)
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

fn parse_value(text: &str) -> anyhow::Result<f64> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .with_context(|| format!("{text:?} is not a number")),
    }
}

/// `{a="1",b="x\"y"}` → labels; `rest` starts after the `{`. Returns the labels and what
/// follows the `}`.
fn parse_labels(rest: &str) -> anyhow::Result<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut s = rest;
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = s.find('=').context("a label without `=`")?;
        let name = &s[..eq];
        ensure!(valid_name(name, false), "bad label name {name:?}");
        let mut chars = s[eq + 1..].char_indices();
        ensure!(
            matches!(chars.next(), Some((_, '"'))),
            "label {name} is not quoted"
        );
        let mut value = String::new();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in chars {
            match (escaped, c) {
                (true, '\\') => value.push('\\'),
                (true, '"') => value.push('"'),
                (true, 'n') => value.push('\n'),
                (true, other) => bail!("bad escape \\{other} in label {name}"),
                (false, '\\') => {
                    escaped = true;
                    continue;
                }
                (false, '"') => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                (false, c) => value.push(c),
            }
            escaped = false;
        }
        let end = end.with_context(|| format!("label {name} is not closed"))?;
        ensure!(
            labels.insert(name.to_string(), value).is_none(),
            "label {name} given twice"
        );
        s = &s[end..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// The family a sample name belongs to, given the declared types.
fn family<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base;
        }
    }
    name
}

/// Parses and checks `text`; the error names the line.
pub fn parse(text: &str) -> anyhow::Result<Exposition> {
    let mut out = Exposition::default();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("line {}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').with_context(at)?;
            ensure!(valid_name(name, true), "{}: bad name", at());
            ensure!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{}: unknown type",
                at()
            );
            ensure!(
                !out.samples
                    .iter()
                    .any(|s| family(&s.name, &out.types) == name),
                "{}: TYPE after the family's samples",
                at()
            );
            out.types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            ensure!(valid_name(name, true), "{}: bad name", at());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).with_context(at)?;
        let name = &line[..name_end];
        ensure!(valid_name(name, true), "{}: bad metric name", at());
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end + 1..]).with_context(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest.split_whitespace();
        let value = parse_value(fields.next().with_context(at)?).with_context(at)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().with_context(at)?;
        }
        ensure!(fields.next().is_none(), "{}: trailing text", at());
        ensure!(
            out.types.contains_key(family(name, &out.types)),
            "{}: a sample before its family's TYPE",
            at()
        );
        out.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    check_histograms(&out)?;
    Ok(out)
}

/// A histogram's series: its labels other than `le` → its buckets as (le, count).
type Series = BTreeMap<Vec<(String, String)>, Vec<(f64, f64)>>;

fn check_histograms(out: &Exposition) -> anyhow::Result<()> {
    for (name, kind) in &out.types {
        if kind != "histogram" {
            continue;
        }
        let bucket = format!("{name}_bucket");
        // One series per label set other than `le`.
        let mut series = Series::new();
        for s in out.samples.iter().filter(|s| s.name == bucket) {
            let le = s.labels.get("le").context("a bucket without `le`")?;
            let key: Vec<_> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            series
                .entry(key)
                .or_default()
                .push((parse_value(le)?, s.value));
        }
        for (key, buckets) in series {
            ensure!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{name}: buckets must rise in le and count"
            );
            let last = buckets.last().context("no buckets")?;
            ensure!(last.0.is_infinite(), "{name}: the last bucket must be +Inf");
            let labels: Vec<(&str, &str)> =
                key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            ensure!(
                out.sum(&format!("{name}_count"), &labels) == last.1,
                "{name}: _count differs from the +Inf bucket"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"z\"} 3\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n";

    #[test]
    fn reads_good_text() {
        let e = parse(GOOD).expect("valid");
        assert_eq!(e.sum("a_total", &[("y", "q\"z")]), 3.0);
        assert_eq!(e.types["h"], "histogram");
    }

    #[test]
    fn refuses_what_a_scraper_would() {
        for bad in [
            "a_total 1\n",                  // no TYPE
            "# TYPE a counter\na{x=1} 1\n", // unquoted label
            "# TYPE a counter\na one\n",    // not a number
            "# TYPE 1a counter\n",          // bad name
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", // falling
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n", // count differs
            "# TYPE a counter\na 1 x\n",                                // bad timestamp
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
