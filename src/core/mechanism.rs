//! The lesson's mechanism measure (no sampling): how training moved the likelihood of the good
//! training responses, against how much each one deviates.
//!
//! For a good response y of training prompt p, with completion length |y| (end token included):
//!
//!   g(y) = (log π(y) − log π_ref(y)) / |y|            (per-token gain; 0 when π = π_ref)
//!
//! Over every probed response, with d(y) its semantic deviation (the one the weights use):
//!
//!   slope = Σ (d − d̄)(g − ḡ) / Σ (d − d̄)²             (least squares of g on d; 0 if all d equal)
//!
//! Per prompt with at least two good responses, "rare" is the most deviating one and "common"
//! the others: rare − common = mean over such prompts of [g(rare) − mean g(common)], and
//! `rare_gain` / `common_gain` are those two terms' means over the same prompts.
//! DDPO multiplies each pair's loss by the chosen response's weight, so its slope should exceed
//! DPO's, whose pairs count alike whatever their deviation.

use serde::{Deserialize, Serialize};

/// One probed response.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gain {
    /// Which training prompt it answers.
    pub prompt: usize,
    #[serde(with = "crate::core::float")]
    pub deviation: f64,
    #[serde(with = "crate::core::float")]
    pub gain: f64,
    #[serde(with = "crate::core::float")]
    pub score: f64,
}

/// The mechanism numbers of one probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mechanism {
    #[serde(with = "crate::core::float")]
    pub slope: f64,
    #[serde(with = "crate::core::float")]
    pub rare_gain: f64,
    #[serde(with = "crate::core::float")]
    pub common_gain: f64,
    #[serde(with = "crate::core::float")]
    pub rare_minus_common: f64,
}

/// Least-squares slope of `y` on `x` (0 when `x` does not vary or there are fewer than 2 points).
pub fn slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return 0.0;
    }
    let (mx, my) = (x[..n].iter().sum::<f64>() / n as f64, y[..n].iter().sum::<f64>() / n as f64);
    let sxy: f64 = (0..n).map(|i| (x[i] - mx) * (y[i] - my)).sum();
    let sxx: f64 = (0..n).map(|i| (x[i] - mx).powi(2)).sum();
    if sxx <= f64::EPSILON * n as f64 { 0.0 } else { sxy / sxx }
}

/// The intercept that goes with [`slope`] (for drawing the fitted line).
pub fn intercept(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n == 0 {
        return 0.0;
    }
    let (mx, my) = (x[..n].iter().sum::<f64>() / n as f64, y[..n].iter().sum::<f64>() / n as f64);
    my - slope(x, y) * mx
}

/// The module's formulas over `gains`.
pub fn mechanism(gains: &[Gain]) -> Mechanism {
    let x: Vec<f64> = gains.iter().map(|g| g.deviation).collect();
    let y: Vec<f64> = gains.iter().map(|g| g.gain).collect();
    let mut prompts: Vec<usize> = gains.iter().map(|g| g.prompt).collect();
    prompts.sort_unstable();
    prompts.dedup();
    let (mut rare, mut common) = (Vec::new(), Vec::new());
    for p in prompts {
        let of: Vec<&Gain> = gains.iter().filter(|g| g.prompt == p).collect();
        if of.len() < 2 {
            continue;
        }
        let top = (0..of.len()).fold(0, |best, i| if of[i].deviation > of[best].deviation { i } else { best });
        let others: Vec<f64> = (0..of.len()).filter(|&i| i != top).map(|i| of[i].gain).collect();
        rare.push(of[top].gain);
        common.push(others.iter().sum::<f64>() / others.len() as f64);
    }
    let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
    let (rare_gain, common_gain) = (mean(&rare), mean(&common));
    Mechanism { slope: slope(&x, &y), rare_gain, common_gain, rare_minus_common: rare_gain - common_gain }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(prompt: usize, deviation: f64, gain: f64) -> Gain {
        Gain { prompt, deviation, gain, score: 5.0 }
    }

    #[test]
    fn slope_by_hand() {
        // x̄ = 2, ȳ = 3; Σ(x−x̄)(y−ȳ) = (−1)(−2) + 0 + (1)(2) = 4; Σ(x−x̄)² = 2 → 2; intercept 3 − 2·2 = −1.
        assert_eq!(slope(&[1.0, 2.0, 3.0], &[1.0, 3.0, 5.0]), 2.0);
        assert_eq!(intercept(&[1.0, 2.0, 3.0], &[1.0, 3.0, 5.0]), -1.0);
        assert_eq!(slope(&[1.0, 1.0], &[0.0, 5.0]), 0.0, "no spread in x");
        assert_eq!(slope(&[1.0], &[2.0]), 0.0);
    }

    #[test]
    fn mechanism_by_hand() {
        // Prompt 0: rare (d 0.6) gains 0.3, the others 0.1 and 0.2 → 0.3 − 0.15 = 0.15.
        // Prompt 1: rare (d 0.5) gains −0.1, the other 0.1 → −0.2. Prompt 2 has one response: no term.
        let gains = [g(0, 0.2, 0.1), g(0, 0.6, 0.3), g(0, 0.4, 0.2), g(1, 0.5, -0.1), g(1, 0.3, 0.1), g(2, 0.9, 1.0)];
        let m = mechanism(&gains);
        assert!((m.rare_gain - 0.1).abs() < 1e-12, "{m:?}");
        assert!((m.common_gain - 0.125).abs() < 1e-12, "{m:?}");
        assert!((m.rare_minus_common - (-0.025)).abs() < 1e-12, "{m:?}");
        // x = .2 .6 .4 .5 .3 .9 (x̄ = 0.48333…), y = .1 .3 .2 −.1 .1 1 (ȳ = 0.26666…).
        let x = [0.2, 0.6, 0.4, 0.5, 0.3, 0.9];
        let y = [0.1, 0.3, 0.2, -0.1, 0.1, 1.0];
        let (mx, my) = (2.9 / 6.0, 1.6 / 6.0);
        let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
        assert!((m.slope - sxy / sxx).abs() < 1e-12);
        assert!((sxy / sxx - 1.254054054054054).abs() < 1e-9, "{}", sxy / sxx);
    }

    #[test]
    fn zero_gains_give_zero() {
        let gains = [g(0, 0.2, 0.0), g(0, 0.6, 0.0), g(1, 0.4, 0.0), g(1, 0.1, 0.0)];
        assert_eq!(mechanism(&gains), Mechanism::default());
        assert_eq!(mechanism(&[]), Mechanism::default());
    }
}
