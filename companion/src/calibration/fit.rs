//! The fit: per-class logit offsets for one device from its corrections.
//!
//! A correction says "the mood was `actual`" about the readings the device made in the
//! seconds before. The offsets `b` maximise
//!
//! ```text
//!   Σ_i w_i · log( (1 − ε) · p_b(actual_i | readings_i) + ε / 7 )  −  |b|² / (2 σ²)
//! ```
//!
//! where `p_b = softmax(ln p + b)` averaged over the correction's frames, `w_i` halves every
//! half-life of the correction's age, and:
//! - the Gaussian prior (σ, [`FitSettings::prior_sd`]) pulls every offset toward 0, so a
//!   few corrections move the model a little and many move it more;
//! - the mixture with a uniform label (ε, [`FitSettings::noise`]) is a robust likelihood:
//!   a correction the readings make implausible (a child pressing buttons, a mis-tap)
//!   weighs little, because its gradient fades as `p_b(actual)` falls;
//! - each offset is capped at ±[`MAX_OFFSET`].
//!
//! Solved by expectation–maximisation: the weight of each correction under the mixture,
//! then Newton's method on the weighted, concave MAP problem (7 unknowns). σ and ε were
//! chosen by the measurement in docs/calibration.md (`calibration evaluate`).

use xpressify_protocol::Emotion;
pub use xpressify_protocol::calibration::MAX_OFFSET;

/// Probabilities below this are read as this before their logarithm.
const FLOOR: f64 = 1e-6;

const K: usize = Emotion::COUNT;

/// One correction as the fit sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    /// What the listener said the mood was.
    pub actual: Emotion,
    /// The device's uncalibrated readings of the seconds before (each 7 probabilities in
    /// FER order); a correction without readings is skipped.
    pub frames: Vec<[f32; K]>,
    /// Its weight by age, 1 for a fresh one (see [`decay`]).
    pub weight: f64,
    /// A confirmation: a mood shown and let stand, not a correction; it weighs
    /// [`FitSettings::confirmation_weight`] times as much.
    pub confirmation: bool,
}

/// The fit's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitSettings {
    /// σ of the Gaussian prior on each offset, in logits.
    pub prior_sd: f64,
    /// ε: the share of corrections the likelihood allows to be arbitrary.
    pub noise: f64,
    /// α: the weight of a confirmation (a mood the listener let stand) against a
    /// correction's 1.
    pub confirmation_weight: f64,
}

impl Default for FitSettings {
    /// The setting `calibration evaluate` chose (docs/calibration.md): the largest gain for
    /// biased listeners among those that cost random corrections at most a point and leave
    /// the population no worse.
    fn default() -> Self {
        FitSettings {
            prior_sd: 1.0,
            noise: 0.5,
            confirmation_weight: 0.3,
        }
    }
}

/// The weight of a correction `age_days` old when weights halve every `half_life_days`.
pub fn decay(age_days: f64, half_life_days: f64) -> f64 {
    if half_life_days <= 0.0 || age_days <= 0.0 {
        1.0
    } else {
        0.5f64.powf(age_days / half_life_days)
    }
}

/// One frame as the fit uses it: its log-probabilities, its label and its weight.
struct Point {
    log_p: [f64; K],
    label: usize,
    weight: f64,
}

fn softmax(z: &[f64; K]) -> [f64; K] {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e = z.map(|v| (v - max).exp());
    let sum: f64 = e.iter().sum();
    e.map(|v| v / sum)
}

fn shifted(point: &Point, b: &[f64; K]) -> [f64; K] {
    softmax(&std::array::from_fn(|k| point.log_p[k] + b[k]))
}

/// The offsets (in FER order) that best explain `corrections`; all zero without any.
pub fn fit(corrections: &[Correction], settings: &FitSettings) -> [f32; K] {
    // Each correction weighs its `weight` however many frames it carries.
    let groups: Vec<Vec<Point>> = corrections
        .iter()
        .filter(|c| !c.frames.is_empty() && c.weight > 0.0 && c.weight.is_finite())
        .filter(|c| !c.confirmation || settings.confirmation_weight > 0.0)
        .map(|c| {
            let kind = if c.confirmation {
                settings.confirmation_weight
            } else {
                1.0
            };
            let w = c.weight * kind / c.frames.len() as f64;
            c.frames
                .iter()
                .map(|p| Point {
                    log_p: std::array::from_fn(|k| f64::from(p[k]).max(FLOOR).ln()),
                    label: c.actual.index(),
                    weight: w,
                })
                .collect()
        })
        .collect();
    if groups.is_empty() {
        return [0.0; K];
    }
    let eps = settings.noise.clamp(0.0, 0.999);
    let precision = 1.0 / settings.prior_sd.max(1e-3).powi(2);
    let mut b = [0.0f64; K];
    let mut trust = vec![1.0f64; groups.len()];
    for _ in 0..8 {
        // E-step: how much each correction is believed under the current offsets.
        for (t, group) in trust.iter_mut().zip(&groups) {
            let p: f64 = group
                .iter()
                .map(|pt| shifted(pt, &b)[pt.label])
                .sum::<f64>()
                / group.len() as f64;
            *t = if eps > 0.0 {
                (1.0 - eps) * p / ((1.0 - eps) * p + eps / K as f64)
            } else {
                1.0
            };
        }
        // M-step: Newton on the weighted MAP problem, each step at most MAX_STEP long (a
        // full step from a flat start can overshoot to where the softmax saturates).
        for _ in 0..20 {
            let mut grad = b.map(|v| -v * precision);
            let mut hess = [[0.0f64; K]; K];
            for (k, row) in hess.iter_mut().enumerate() {
                row[k] = precision;
            }
            for (t, group) in trust.iter().zip(&groups) {
                for pt in group {
                    let w = pt.weight * t;
                    let p = shifted(pt, &b);
                    for k in 0..K {
                        let target = if k == pt.label { 1.0 } else { 0.0 };
                        grad[k] += w * (target - p[k]);
                        for j in 0..K {
                            let diag = if j == k { p[k] } else { 0.0 };
                            hess[k][j] += w * (diag - p[k] * p[j]);
                        }
                    }
                }
            }
            // `hess` is minus the Hessian: positive definite thanks to the prior.
            let Some(step) = solve(hess, grad) else { break };
            let longest = step.iter().map(|s| s.abs()).fold(0.0, f64::max);
            let scale = if longest > MAX_STEP {
                MAX_STEP / longest
            } else {
                1.0
            };
            for k in 0..K {
                b[k] += step[k] * scale;
            }
            if longest < 1e-7 {
                break;
            }
        }
    }
    // Softmax ignores a shift of all offsets; report them centred, then capped.
    let mean = b.iter().sum::<f64>() / K as f64;
    b.map(|v| ((v - mean) as f32).clamp(-MAX_OFFSET, MAX_OFFSET))
}

/// The longest Newton step, in logits.
const MAX_STEP: f64 = 1.0;

/// Folds of the cross-validation in [`fit_checked`].
const FOLDS: usize = 5;

/// [`fit`], kept only where it earns its place: over [`FOLDS`] folds of the entries, the
/// offsets fitted without a fold must show that fold's moods right (weighing every entry by
/// its age only, a confirmation as much as a correction) more often than no calibration
/// does. Otherwise all zero: offsets that only make the model's probabilities look better,
/// not its answers, are not worth a change in what the box says.
pub fn fit_checked(entries: &[Correction], settings: &FitSettings) -> [f32; K] {
    let entries: Vec<&Correction> = entries.iter().filter(|c| !c.frames.is_empty()).collect();
    if entries.is_empty() {
        return [0.0; K];
    }
    let folds = FOLDS.min(entries.len());
    let (mut with, mut without) = (0.0, 0.0);
    for fold in 0..folds {
        let train: Vec<Correction> = entries
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != fold)
            .map(|(_, c)| (*c).clone())
            .collect();
        let b = fit(&train, settings);
        for c in entries.iter().skip(fold).step_by(folds) {
            with += c.weight * right_share(c, &b);
            without += c.weight * right_share(c, &[0.0; K]);
        }
    }
    if with > without {
        let all: Vec<Correction> = entries.into_iter().cloned().collect();
        fit(&all, settings)
    } else {
        [0.0; K]
    }
}

/// The share of `c`'s frames whose top class under offsets `b` is `c.actual`.
fn right_share(c: &Correction, b: &[f32; K]) -> f64 {
    let right = c
        .frames
        .iter()
        .filter(|p| {
            let top = (0..K).max_by(|&i, &j| {
                let a = f64::from(p[i]).max(FLOOR).ln() + f64::from(b[i]);
                let z = f64::from(p[j]).max(FLOOR).ln() + f64::from(b[j]);
                a.total_cmp(&z)
            });
            top == Some(c.actual.index())
        })
        .count();
    right as f64 / c.frames.len() as f64
}

/// Solves `a · x = y` by Gaussian elimination with partial pivoting; `None` if singular.
fn solve(mut a: [[f64; K]; K], mut y: [f64; K]) -> Option<[f64; K]> {
    for col in 0..K {
        let pivot = (col..K).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        y.swap(col, pivot);
        for row in col + 1..K {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            y[row] -= f * y[col];
        }
    }
    let mut x = [0.0; K];
    for row in (0..K).rev() {
        let rest: f64 = (row + 1..K).map(|k| a[row][k] * x[k]).sum();
        x[row] = (y[row] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// Readings of a model whose outputs are off by `-truth` from the listener's real
    /// probabilities, each labelled by a draw from the real ones.
    fn biased_readings(truth: [f64; K], n: usize, seed: u64) -> Vec<Correction> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let logits: [f64; K] = std::array::from_fn(|_| rng.random::<f64>() * 4.0);
                let real = softmax(&logits);
                let seen = softmax(&std::array::from_fn(|k| logits[k] - truth[k]));
                let label = crate::calibration::evaluate::draw_class(&real, rng.random());
                Correction {
                    actual: Emotion::ALL[label],
                    frames: vec![seen.map(|v| v as f32)],
                    weight: 1.0,
                    confirmation: false,
                }
            })
            .collect()
    }

    #[test]
    fn recovers_a_known_offset_from_synthetic_readings() {
        let truth = [0.3, -0.6, 0.0, -0.4, 0.2, 0.0, 0.5];
        let readings = biased_readings(truth, 6000, 7);
        // A weak prior and no noise: the plain maximum-likelihood answer.
        let loose = FitSettings {
            prior_sd: 100.0,
            noise: 0.0,
            confirmation_weight: 0.0,
        };
        let b = fit(&readings, &loose);
        let mean = truth.iter().sum::<f64>() / K as f64;
        for k in 0..K {
            let want = truth[k] - mean;
            assert!(
                (f64::from(b[k]) - want).abs() < 0.12,
                "offset {k}: fitted {} for {want:.3} ({b:?})",
                b[k]
            );
        }
    }

    #[test]
    fn three_corrections_move_little_and_none_move_nothing() {
        assert_eq!(fit(&[], &FitSettings::default()), [0.0; K]);
        let sad_read_as_neutral = Correction {
            actual: Emotion::Sad,
            frames: vec![[0.02, 0.01, 0.02, 0.05, 0.2, 0.02, 0.68]],
            weight: 1.0,
            confirmation: false,
        };
        let b = fit(&vec![sad_read_as_neutral; 3], &FitSettings::default());
        assert!(b[Emotion::Sad.index()] > 0.0, "{b:?}");
        // The prior holds three corrections well inside the cap.
        assert!(b.iter().all(|v| v.abs() < 1.2), "{b:?}");
    }

    #[test]
    fn offsets_are_capped_and_old_corrections_weigh_less() {
        let loose = FitSettings {
            prior_sd: 100.0,
            noise: 0.0,
            confirmation_weight: 0.0,
        };
        let always_fear = Correction {
            actual: Emotion::Fear,
            frames: vec![[0.01, 0.01, 0.01, 0.94, 0.01, 0.01, 0.01]],
            weight: 1.0,
            confirmation: false,
        };
        let b = fit(&vec![always_fear; 50], &loose);
        assert!(b.iter().all(|v| v.abs() <= MAX_OFFSET), "{b:?}");
        assert_eq!(b[Emotion::Fear.index()], MAX_OFFSET, "{b:?}");
        assert_eq!(decay(0.0, 30.0), 1.0);
        assert!((decay(30.0, 30.0) - 0.5).abs() < 1e-12);
        assert!((decay(90.0, 30.0) - 0.125).abs() < 1e-12);
    }
}
