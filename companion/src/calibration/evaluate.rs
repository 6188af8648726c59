//! `xpressify-companion calibration evaluate`: what the calibration is worth, measured on
//! the device's own readings of FER2013 PrivateTest (`xpressify-device bench --readings`).
//!
//! Three checks, each on faces split in two halves at random (corrections come from one
//! half, accuracy is measured on the other, so no face is scored that was corrected):
//! - **population**: the whole PrivateTest as it comes; every wrong reading of the first
//!   half is corrected with its true label, as a listener would;
//! - **listeners**: a household (mostly neutral and happy faces, see [`HOUSEHOLD`]) with a
//!   bias the model does not know — a resting face the model reads as sad, a dark room, a
//!   tilted camera, a washed-out picture; the listener watches the box and corrects each
//!   wrong reading, and accuracy on the listener's next faces is measured after 5, 20 and 50
//!   corrections;
//! - **robustness**: the same household corrects at random (a wrong label each time).
//!
//! A listener who watches the box and lets a reading stand confirms it: the companion
//! samples such readings too ([`super::keeper`]) and the fit weighs each at
//! [`FitSettings::confirmation_weight`]. Without them, a fit sees only the wrong readings
//! and learns to doubt the model's right ones as well (the grid's `α = 0` rows).
//!
//! Every setting of the fit on a small grid runs all three; the report says which setting
//! gains most for listeners while random corrections cost at most a point.

use std::path::Path;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use xpressify_protocol::Emotion;

use super::fit::{Correction, FitSettings, fit_checked};

const K: usize = Emotion::COUNT;

/// The household's faces by class, in FER order: mostly neutral (50 %) and happy (25 %), a
/// little of the rest. An assumption about a living room, not a measurement; FER2013's own
/// mix is the population check.
pub const HOUSEHOLD: [f64; K] = [0.05, 0.03, 0.04, 0.25, 0.08, 0.05, 0.50];

/// How many corrections the listener checks stop at.
pub const STEPS: [usize; 3] = [5, 20, 50];

/// The grid of fit settings tried: σ of the prior, ε of the robust likelihood and α, the
/// weight of a confirmation.
pub const PRIOR_SDS: [f64; 3] = [0.25, 0.5, 1.0];
/// See [`PRIOR_SDS`].
pub const NOISES: [f64; 3] = [0.0, 0.5, 0.9];
/// See [`PRIOR_SDS`].
pub const CONFIRMATION_WEIGHTS: [f64; 4] = [0.0, 0.1, 0.3, 1.0];

/// One line of the readings file.
#[derive(Debug, Clone)]
pub struct Reading {
    /// `plain`, `dark`, `tilted` or `low_contrast`.
    pub condition: String,
    /// The FER label.
    pub label: usize,
    /// The model's probabilities.
    pub p: [f32; K],
}

/// Reads the CSV `xpressify-device bench --readings` writes.
pub fn load(path: &Path) -> anyhow::Result<Vec<Reading>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {} (make it with `xpressify-device bench --readings FILE`)",
            path.display()
        )
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let bad = || {
            format!(
                "{}: line {} is not condition,label,7 numbers",
                path.display(),
                n + 1
            )
        };
        anyhow::ensure!(fields.len() == 2 + K, "{}", bad());
        let label: usize = fields[1].parse().with_context(bad)?;
        anyhow::ensure!(label < K, "{}", bad());
        let mut p = [0.0f32; K];
        for (slot, f) in p.iter_mut().zip(&fields[2..]) {
            *slot = f.parse().with_context(bad)?;
            anyhow::ensure!(slot.is_finite() && *slot >= 0.0, "{}", bad());
        }
        out.push(Reading {
            condition: fields[0].to_string(),
            label,
            p,
        });
    }
    anyhow::ensure!(!out.is_empty(), "{}: no readings", path.display());
    Ok(out)
}

fn log_p(p: &[f32; K]) -> [f64; K] {
    p.map(|v| f64::from(v).max(1e-6).ln())
}

fn predict(r: &Reading, b: &[f32; K]) -> usize {
    let l = log_p(&r.p);
    (0..K)
        .max_by(|&i, &j| (l[i] + f64::from(b[i])).total_cmp(&(l[j] + f64::from(b[j]))))
        .unwrap_or(0)
}

fn accuracy(faces: &[&Reading], b: &[f32; K]) -> f64 {
    let right = faces.iter().filter(|r| predict(r, b) == r.label).count();
    100.0 * right as f64 / faces.len().max(1) as f64
}

fn correction(r: &Reading, label: usize, confirmation: bool) -> Correction {
    Correction {
        actual: Emotion::ALL[label],
        frames: vec![r.p],
        weight: 1.0,
        confirmation,
    }
}

/// A simulated listener: which faces they show, and how they correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Listener {
    /// A resting face the model reads as sad: the household's neutral faces are those FER2013
    /// neutral faces the model gives more sadness than 70 % of neutral faces get.
    RestingSad,
    /// The household in a dark room.
    Dark,
    /// The household under a tilted camera.
    Tilted,
    /// The household, washed out.
    LowContrast,
    /// The household as FER2013 shows faces, correcting readings at random (as often as the
    /// model errs on the household, [`RANDOM_RATE`]) with a random label other than the one
    /// shown: corrections that carry no information.
    Random,
}

impl Listener {
    /// All of them, in the report's order.
    pub const ALL: [Listener; 5] = [
        Listener::RestingSad,
        Listener::Dark,
        Listener::Tilted,
        Listener::LowContrast,
        Listener::Random,
    ];

    fn condition(self) -> &'static str {
        match self {
            Listener::Dark => "dark",
            Listener::Tilted => "tilted",
            Listener::LowContrast => "low_contrast",
            Listener::RestingSad | Listener::Random => "plain",
        }
    }

    /// The listener's faces: the condition's readings, narrowed for a resting face.
    fn faces(self, readings: &[Reading]) -> Vec<&Reading> {
        let faces: Vec<&Reading> = readings
            .iter()
            .filter(|r| r.condition == self.condition())
            .collect();
        if self != Listener::RestingSad {
            return faces;
        }
        let (sad, neutral) = (Emotion::Sad.index(), Emotion::Neutral.index());
        let mut sadness: Vec<f32> = faces
            .iter()
            .filter(|r| r.label == neutral)
            .map(|r| r.p[sad])
            .collect();
        sadness.sort_by(f32::total_cmp);
        let threshold = sadness.get(sadness.len() * 7 / 10).copied().unwrap_or(0.0);
        faces
            .into_iter()
            .filter(|r| r.label != neutral || r.p[sad] >= threshold)
            .collect()
    }
}

/// The class a uniform draw `u` in [0, 1) falls on, with `shares` (summing to 1) as the
/// chances; the last class takes what rounding leaves.
pub(crate) fn draw_class(shares: &[f64; K], mut u: f64) -> usize {
    for (k, share) in shares.iter().enumerate() {
        if u < *share {
            return k;
        }
        u -= share;
    }
    K - 1
}

/// Draws `n` faces of `pool` following [`HOUSEHOLD`].
fn household<'a>(pool: &[&'a Reading], n: usize, rng: &mut StdRng) -> Vec<&'a Reading> {
    let by_class: Vec<Vec<&Reading>> = (0..K)
        .map(|k| pool.iter().copied().filter(|r| r.label == k).collect())
        .collect();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let faces = &by_class[draw_class(&HOUSEHOLD, rng.random())];
        if !faces.is_empty() {
            out.push(faces[rng.random_range(0..faces.len())]);
        }
    }
    out
}

/// Splits `faces` in two random halves.
fn halves<'a>(faces: &[&'a Reading], rng: &mut StdRng) -> (Vec<&'a Reading>, Vec<&'a Reading>) {
    let mut all = faces.to_vec();
    all.shuffle(rng);
    let second = all.split_off(all.len() / 2);
    (all, second)
}

/// Accuracy on `test` before any correction and after each of [`STEPS`] corrections made
/// while watching `stream` (a correction whenever the calibrated reading is wrong; the
/// label is the truth, or a random wrong one for `random`).
fn corrections_along(
    stream: &[&Reading],
    test: &[&Reading],
    settings: &FitSettings,
    random: Option<&mut StdRng>,
) -> [f64; 4] {
    let mut out = [accuracy(test, &[0.0; K]); 4];
    let mut made: Vec<Correction> = Vec::new();
    let mut corrections = 0;
    let mut b = [0.0f32; K];
    let mut random = random;
    for r in stream {
        let shown = predict(r, &b);
        let said = match random.as_deref_mut() {
            // Corrects as often as the model errs, whatever the reading, to a random label
            // other than the one shown.
            Some(rng) => {
                if rng.random_bool(RANDOM_RATE) {
                    let other = rng.random_range(0..K - 1);
                    if other >= shown { other + 1 } else { other }
                } else {
                    shown
                }
            }
            None => r.label,
        };
        if said == shown {
            // Let stand: a confirmation of what was shown.
            made.push(correction(r, shown, true));
            continue;
        }
        made.push(correction(r, said, false));
        corrections += 1;
        b = fit_checked(&made, settings);
        if let Some(i) = STEPS.iter().position(|s| *s == corrections) {
            out[i + 1] = accuracy(test, &b);
        }
        if corrections >= STEPS[STEPS.len() - 1] {
            break;
        }
    }
    out
}

/// One listener's accuracy (%) before and after 5, 20 and 50 corrections, averaged over
/// the seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerResult {
    /// Who.
    pub listener: Listener,
    /// Before, and after each of [`STEPS`].
    pub accuracy: [f64; 4],
}

/// The population check's accuracy (%), averaged over the seeds.
#[derive(Debug, Clone, Serialize)]
pub struct PopulationResult {
    /// Without calibration.
    pub before: f64,
    /// After every wrong reading of the first half was corrected.
    pub after: f64,
    /// How many corrections that was (mean).
    pub corrections: f64,
}

/// Everything measured for one setting of the fit.
#[derive(Debug, Clone, Serialize)]
pub struct SettingResult {
    /// σ of the prior.
    pub prior_sd: f64,
    /// ε of the robust likelihood.
    pub noise: f64,
    /// α, the weight of a confirmation.
    pub confirmation_weight: f64,
    /// The population check.
    pub population: PopulationResult,
    /// The listener checks, robustness last.
    pub listeners: Vec<ListenerResult>,
}

impl SettingResult {
    fn listener(&self, who: Listener) -> Option<&ListenerResult> {
        self.listeners.iter().find(|l| l.listener == who)
    }

    /// Points lost to 50 random corrections (positive: a loss).
    pub fn random_cost(&self) -> f64 {
        self.listener(Listener::Random)
            .map_or(f64::INFINITY, |l| l.accuracy[0] - l.accuracy[3])
    }

    /// The mean gain, in points, of the biased listeners after 5, 20 and 50 corrections.
    pub fn listener_gain(&self) -> f64 {
        let biased: Vec<&ListenerResult> = self
            .listeners
            .iter()
            .filter(|l| l.listener != Listener::Random)
            .collect();
        let sum: f64 = biased
            .iter()
            .map(|l| (l.accuracy[1] + l.accuracy[2] + l.accuracy[3]) / 3.0 - l.accuracy[0])
            .sum();
        sum / biased.len().max(1) as f64
    }

    /// Allowed: random corrections cost at most a point and the population does not lose.
    pub fn safe(&self) -> bool {
        self.random_cost() <= 1.0 && self.population.after >= self.population.before
    }
}

/// The whole measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Seeds (random halves and households) each figure is averaged over.
    pub seeds: u64,
    /// Faces each listener shows while correcting, and on which they are scored.
    pub faces: (usize, usize),
    /// One entry per setting of [`PRIOR_SDS`] × [`NOISES`].
    pub settings: Vec<SettingResult>,
    /// The index in `settings` of the best safe one, if any.
    pub best: Option<usize>,
}

fn mean4(rows: &[[f64; 4]]) -> [f64; 4] {
    let n = rows.len().max(1) as f64;
    std::array::from_fn(|i| rows.iter().map(|r| r[i]).sum::<f64>() / n)
}

/// Runs the checks for one setting.
pub fn measure(readings: &[Reading], settings: &FitSettings, seeds: u64) -> SettingResult {
    let plain: Vec<&Reading> = readings.iter().filter(|r| r.condition == "plain").collect();
    let (mut before, mut after, mut count) = (0.0, 0.0, 0.0);
    for seed in 0..seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        let (a, b) = halves(&plain, &mut rng);
        let wrong = |r: &&&Reading| predict(r, &[0.0; K]) != r.label;
        let mut made: Vec<Correction> = a
            .iter()
            .filter(wrong)
            .map(|r| correction(r, r.label, false))
            .collect();
        count += made.len() as f64;
        made.extend(
            a.iter()
                .filter(|r| !wrong(r))
                .map(|r| correction(r, r.label, true)),
        );
        before += accuracy(&b, &[0.0; K]);
        after += accuracy(&b, &fit_checked(&made, settings));
    }
    let n = seeds.max(1) as f64;
    let population = PopulationResult {
        before: before / n,
        after: after / n,
        corrections: count / n,
    };
    let listeners = Listener::ALL
        .iter()
        .map(|&who| {
            let faces = who.faces(readings);
            let rows: Vec<[f64; 4]> = (0..seeds)
                .map(|seed| {
                    let mut rng = StdRng::seed_from_u64(1000 + seed);
                    let (a, b) = halves(&faces, &mut rng);
                    let stream = household(&a, STREAM_FACES, &mut rng);
                    let test = household(&b, TEST_FACES, &mut rng);
                    let mut labels = StdRng::seed_from_u64(2000 + seed);
                    let random = (who == Listener::Random).then_some(&mut labels);
                    corrections_along(&stream, &test, settings, random)
                })
                .collect();
            ListenerResult {
                listener: who,
                accuracy: mean4(&rows),
            }
        })
        .collect();
    SettingResult {
        prior_sd: settings.prior_sd,
        noise: settings.noise,
        confirmation_weight: settings.confirmation_weight,
        population,
        listeners,
    }
}

/// How often the random listener corrects: about how often the model errs on the
/// household's plain faces.
pub const RANDOM_RATE: f64 = 0.2;

/// Faces a listener shows while correcting (enough for 50 corrections).
pub const STREAM_FACES: usize = 3000;
/// Faces a listener is scored on.
pub const TEST_FACES: usize = 2000;

/// Runs every setting of the grid; `progress` hears each one done.
pub fn run(readings: &[Reading], seeds: u64, mut progress: impl FnMut(usize, usize)) -> Report {
    let mut grid = Vec::new();
    for &prior_sd in &PRIOR_SDS {
        for &noise in &NOISES {
            for &confirmation_weight in &CONFIRMATION_WEIGHTS {
                grid.push(FitSettings {
                    prior_sd,
                    noise,
                    confirmation_weight,
                });
            }
        }
    }
    let mut settings = Vec::new();
    for (i, s) in grid.iter().enumerate() {
        settings.push(measure(readings, s, seeds));
        progress(i + 1, grid.len());
    }
    let best = settings
        .iter()
        .enumerate()
        .filter(|(_, s)| s.safe())
        .max_by(|a, b| a.1.listener_gain().total_cmp(&b.1.listener_gain()))
        .map(|(i, _)| i);
    Report {
        seeds,
        faces: (STREAM_FACES, TEST_FACES),
        settings,
        best,
    }
}

impl Report {
    /// The report as Markdown tables, for docs/calibration.md.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Averages over {} seeds. Listener accuracy on {} of their next faces, %.\n\n",
            self.seeds, self.faces.1
        ));
        out.push_str("| σ | ε | α | population before → after (corrections) | listeners' gain, points | random: cost of 50, points | safe |\n| --- | --- | --- | --- | --- | --- | --- |\n");
        for (i, s) in self.settings.iter().enumerate() {
            let mark = if Some(i) == self.best {
                " **chosen**"
            } else {
                ""
            };
            out.push_str(&format!(
                "| {} | {} | {} | {:.2} → {:.2} ({:.0}) | {:+.2} | {:.2} | {}{} |\n",
                s.prior_sd,
                s.noise,
                s.confirmation_weight,
                s.population.before,
                s.population.after,
                s.population.corrections,
                s.listener_gain(),
                s.random_cost(),
                if s.safe() { "yes" } else { "no" },
                mark
            ));
        }
        let d = FitSettings::default();
        out.push_str(&format!(
            "\nThe companion's setting (`FitSettings::default`): σ = {}, ε = {}, α = {}.\n",
            d.prior_sd, d.noise, d.confirmation_weight
        ));
        if let Some(best) = self.best.and_then(|i| self.settings.get(i)) {
            out.push_str(&format!(
                "\nWith σ = {}, ε = {}, α = {}:\n\n| listener | before | 5 corrections | 20 | 50 |\n| --- | --- | --- | --- | --- |\n",
                best.prior_sd, best.noise, best.confirmation_weight
            ));
            for l in &best.listeners {
                let name = serde_json::to_value(l.listener)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let [a, b, c, d] = l.accuracy;
                out.push_str(&format!("| {name} | {a:.2} | {b:.2} | {c:.2} | {d:.2} |\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(condition: &str, label: usize, top: usize) -> Reading {
        let mut p = [0.05f32; K];
        p[top] = 0.7;
        Reading {
            condition: condition.into(),
            label,
            p,
        }
    }

    #[test]
    fn a_listener_whose_neutral_reads_sad_gains_from_corrections() {
        // Neutral faces read as sad (a resting face), the rest read right.
        let mut readings = Vec::new();
        for i in 0..400 {
            let label = i % K;
            let top = if label == Emotion::Neutral.index() {
                Emotion::Sad.index()
            } else {
                label
            };
            let mut r = reading("dark", label, top);
            // Some spread, so the sad faces and the neutral ones differ a little.
            r.p[Emotion::Neutral.index()] += 0.01 * (i % 5) as f32;
            readings.push(r);
        }
        let faces: Vec<&Reading> = readings.iter().collect();
        let mut rng = StdRng::seed_from_u64(1);
        let stream = household(&faces, 500, &mut rng);
        let test = household(&faces, 500, &mut rng);
        let [before, _, _, after] =
            corrections_along(&stream, &test, &FitSettings::default(), None);
        assert!(after > before + 20.0, "{before} → {after}");
    }

    #[test]
    fn reads_the_devices_file_and_refuses_junk() {
        let dir = tempfile::tempdir().expect("dir");
        let good = dir.path().join("good.csv");
        std::fs::write(
            &good,
            "condition,label,angry,disgust,fear,happy,sad,surprise,neutral\nplain,3,0.1,0,0,0.9,0,0,0\n",
        )
        .expect("write");
        let r = load(&good).expect("loads");
        assert_eq!((r.len(), r[0].label), (1, 3));
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "header\nplain,9,0,0,0,1,0,0,0\n").expect("write");
        assert!(load(&bad).is_err());
    }
}
