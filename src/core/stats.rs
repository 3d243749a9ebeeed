//! Comparing two methods over seeds: paired differences (same seed, same pairs, same probe),
//! their mean, a seeded percentile-bootstrap 95 % interval and the wins.
//!
//! For seeds s = 1…n with values a_s and b_s: δ_s = a_s − b_s; mean = Σδ_s / n; the interval is
//! the 2.5th and 97.5th percentiles of the means of `resamples` resamples of the δ's drawn with
//! replacement (ChaCha8, seeded); wins = #{s : δ_s > 0}.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// Bootstrap resamples used unless told otherwise.
pub const RESAMPLES: usize = 10_000;

/// A paired comparison of two methods on one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    pub mean_diff: f64,
    pub ci95: [f64; 2],
    /// Seeds where a − b > 0.
    pub wins: usize,
    pub n: usize,
}

/// The paired comparison of `a` and `b` (one value per seed, same order). `None` when empty or
/// the lengths differ.
pub fn paired(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Option<Paired> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = diffs.len();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| (0..n).map(|_| diffs[((rng.next_u64() as u128 * n as u128) >> 64) as usize]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    Some(Paired {
        mean_diff: mean(&diffs),
        ci95: [percentile(&means, 0.025), percentile(&means, 0.975)],
        wins: diffs.iter().filter(|&&d| d > 0.0).count(),
        n,
    })
}

/// The `q` quantile of sorted values, interpolating linearly between order statistics.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_differences_have_a_point_interval() {
        let p = paired(&[3.0, 4.0, 5.0], &[1.0, 2.0, 3.0], 2_000, 0).unwrap();
        assert_eq!(p, Paired { mean_diff: 2.0, ci95: [2.0, 2.0], wins: 3, n: 3 });
    }

    #[test]
    fn interval_covers_the_mean_and_is_seeded() {
        let a = [0.3, -0.1, 0.5, 0.2, 0.0, 0.4, -0.2, 0.6, 0.1, 0.3];
        let b = [0.0; 10];
        let p = paired(&a, &b, 5_000, 7).unwrap();
        assert!((p.mean_diff - 0.21).abs() < 1e-12);
        assert!(p.ci95[0] < p.mean_diff && p.mean_diff < p.ci95[1], "{p:?}");
        // A bootstrap interval of a mean spans about ±1.96 standard errors (sd 0.2468, n 10: width ≈ 0.31).
        assert!((p.ci95[1] - p.ci95[0] - 0.31).abs() < 0.05, "{p:?}");
        assert_eq!(p.wins, 7);
        assert_eq!(paired(&a, &b, 5_000, 7), Some(p));
        assert_ne!(paired(&a, &b, 5_000, 8).unwrap().ci95, paired(&a, &b, 5_000, 7).unwrap().ci95);
    }

    #[test]
    fn mismatched_or_empty_inputs_give_none() {
        assert_eq!(paired(&[], &[], 100, 0), None);
        assert_eq!(paired(&[1.0], &[1.0, 2.0], 100, 0), None);
    }

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&[0.0, 1.0, 2.0, 3.0, 4.0], 0.5), 2.0);
        assert_eq!(percentile(&[0.0, 10.0], 0.25), 2.5);
    }
}
