//! Deviation and the paper's per-prompt weights (Chung et al., 2025, §3; reference code
//! `DiversityModel.get_diversity` and `transform_scores`).
//!
//! Everything here works on a [`DistanceMatrix`] of one prompt's N responses, whatever
//! similarity produced it (MiniLM cosine, token Jaccard, a style profile).

use serde::{Deserialize, Serialize};

/// Pairwise distances D_ij between the N responses of one prompt, row-major, symmetric,
/// with a zero diagonal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistanceMatrix {
    n: usize,
    #[serde(with = "crate::core::float::vec")] 
    values: Vec<f64>,
}

impl DistanceMatrix {
    /// Builds the matrix from `distance(i, j)` for i < j; the diagonal is 0 and the
    /// lower triangle mirrors the upper one.
    pub fn from_fn(n: usize, mut distance: impl FnMut(usize, usize) -> f64) -> Self {
        let mut values = vec![0.0; n * n];
        for i in 0..n {
            for j in i + 1..n {
                let d = distance(i, j);
                values[i * n + j] = d;
                values[j * n + i] = d;
            }
        }
        Self { n, values }
    }

    /// Cosine distances D_ij = 1 − cos(e_i, e_j) of raw (not necessarily normalised)
    /// embeddings. A zero (or non-finite-norm) vector has no direction: its cosine with
    /// anything is taken as 0, so its distances are 1 (never NaN).
    pub fn cosine(embeddings: &[Vec<f64>]) -> Self {
        let unit: Vec<Vec<f64>> = embeddings
            .iter()
            .map(|e| {
                let norm = e.iter().map(|x| x * x).sum::<f64>().sqrt();
                let scale = if norm > 0.0 && norm.is_finite() { 1.0 / norm } else { 0.0 };
                e.iter().map(|x| x * scale).collect()
            })
            .collect();
        Self::from_fn(unit.len(), |i, j| {
            1.0 - unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum::<f64>()
        })
    }

    /// Number of responses N.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the matrix holds no response.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// D_ij.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.values[i * self.n + j]
    }

    /// The N×N values, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

/// Raw deviation of each response: the mean distance to the others of the same prompt,
/// d_i = Σ_{j≠i} D_ij / (N − 1). (The paper's "1 − mean similarity" for cosine.)
///
/// Needs N ≥ 2; with N < 2 every deviation is 0.
pub fn raw_deviation(distances: &DistanceMatrix) -> Vec<f64> {
    let n = distances.len();
    if n < 2 {
        return vec![0.0; n];
    }
    (0..n)
        .map(|i| (0..n).filter(|&j| j != i).map(|j| distances.get(i, j)).sum::<f64>() / (n - 1) as f64)
        .collect()
}

/// Min-max scaling of one kind's deviations to [−1, 1]:
/// s_i = 2(d_i − min)/(max − min) − 1, and s = 0 for all when max = min.
pub fn scaled_deviation(deviation: &[f64]) -> Vec<f64> {
    let lo = deviation.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = deviation.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if hi == lo {
        return vec![0.0; deviation.len()];
    }
    deviation.iter().map(|d| 2.0 * (d - lo) / (hi - lo) - 1.0).collect()
}

/// The paper's per-prompt weights from one or more kinds of raw deviation
/// (e.g. `[semantic]`, `[style]`, or `[semantic, style]`), all of one prompt's responses.
///
/// Per kind k: s = [`scaled_deviation`], z_k = (s + 1)/2; with K kinds z = (Π_k z_k)^(1/K)
/// (geometric mean); then w_i = z_i / mean_j z_j, so w ≥ 0, Σ w = N and the least deviating
/// response gets 0. When all z are equal the reference gives w_i = 2 z_i instead: 1 for all
/// when no response deviates more than another (always so for N = 2), 0 for all when every
/// z is 0 (two kinds ranking the responses in opposite orders); never a division by zero.
///
/// `min_weight`, when given, floors every weight (the paper's ablation, e.g. 0.2).
///
/// Panics if the kinds hold different numbers of responses.
pub fn weights(kinds: &[&[f64]], min_weight: Option<f64>) -> Vec<f64> {
    let n = kinds.first().map_or(0, |d| d.len());
    assert!(kinds.iter().all(|d| d.len() == n), "every kind needs one deviation per response");
    let k = kinds.len() as f64;
    let mut z = vec![1.0; n];
    for deviation in kinds {
        for (zi, s) in z.iter_mut().zip(scaled_deviation(deviation)) {
            *zi *= ((s + 1.0) / 2.0).powf(1.0 / k);
        }
    }
    let lo = z.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = if lo == hi {
        z.iter().map(|zi| 2.0 * zi).collect()
    } else {
        let mean = z.iter().sum::<f64>() / n as f64;
        z.iter().map(|zi| zi / mean).collect()
    };
    match min_weight {
        Some(floor) => w.into_iter().map(|wi| wi.max(floor)).collect(),
        None => w,
    }
}

#[cfg(test)]
mod tests {
    //! Every number below is printed by ../shared/reference/ref_vectors.py.
    use super::*;

    #[test]
    fn a_zero_vector_is_at_distance_one_not_nan() {
        let m = DistanceMatrix::cosine(&[vec![0.0, 0.0], vec![3.0, 4.0], vec![6.0, 8.0]]);
        assert_eq!((m.get(0, 1), m.get(1, 0), m.get(0, 2)), (1.0, 1.0, 1.0));
        assert!(m.get(1, 2).abs() < 1e-12);
        let d = crate::core::records::PromptDeviation::from_distances("p".into(), &[m], None);
        assert!(d.deviation.iter().chain(&d.weight).all(|x| x.is_finite()), "{d:?}");
    }

    const TOL: f64 = 1e-6;

    fn sem() -> Vec<Vec<f64>> {
        vec![vec![1.0, 0.0, 0.0], vec![0.9, 0.1, 0.0], vec![0.0, 1.0, 0.0], vec![0.5, 0.5, 0.7]]
    }

    fn sty() -> Vec<Vec<f64>> {
        vec![vec![1.0, 1.0], vec![1.0, 0.8], vec![0.2, 1.0], vec![1.0, -1.0]]
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= TOL, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn raw_deviation_matches_reference() {
        assert_close(
            &raw_deviation(&DistanceMatrix::cosine(&sem())),
            &[0.501199, 0.446915, 0.795683, 0.480008],
        );
        assert_close(
            &raw_deviation(&DistanceMatrix::cosine(&sty())),
            &[0.391355, 0.37666, 0.652315, 1.14809],
        );
    }

    #[test]
    fn scaled_deviation_spans_minus_one_to_one() {
        assert_close(&scaled_deviation(&[0.2, 0.6, 0.4]), &[-1.0, 1.0, 0.0]);
        assert_eq!(scaled_deviation(&[0.3, 0.3]), vec![0.0, 0.0]);
    }

    #[test]
    fn weights_match_reference_for_semantic_style_and_both() {
        let rs = raw_deviation(&DistanceMatrix::cosine(&sem()));
        let rt = raw_deviation(&DistanceMatrix::cosine(&sty()));
        let w_sem = weights(&[&rs], None);
        let w_sty = weights(&[&rt], None);
        let w_both = weights(&[&rs, &rt], None);
        assert_close(&w_sem, &[0.497853, 0.0, 3.198647, 0.3035]);
        assert_close(&w_sty, &[0.055361, 0.0, 1.038464, 2.906175]);
        assert_close(&w_both, &[0.226821, 0.0, 2.490052, 1.283128]);
        for w in [w_sem, w_sty, w_both] {
            assert!((w.iter().sum::<f64>() - 4.0).abs() <= TOL);
        }
    }

    #[test]
    fn two_responses_get_weight_one() {
        let d = raw_deviation(&DistanceMatrix::cosine(&[vec![1.0, 0.0], vec![0.0, 1.0]]));
        assert_close(&d, &[1.0, 1.0]);
        assert_close(&weights(&[&d], None), &[1.0, 1.0]);
    }

    #[test]
    fn opposite_rankings_give_zero_weights_without_dividing_by_zero() {
        // Two kinds that rank two responses in opposite orders: every z is 0.
        let w = weights(&[&[0.1, 0.2], &[0.2, 0.1]], None);
        assert_eq!(w, vec![0.0, 0.0]);
    }

    #[test]
    fn min_weight_floors_every_weight() {
        let rs = raw_deviation(&DistanceMatrix::cosine(&sem()));
        assert_close(&weights(&[&rs], Some(0.2)), &[0.497853, 0.2, 3.198647, 0.3035]);
    }

    #[test]
    fn fewer_than_two_responses_have_zero_deviation() {
        assert_eq!(raw_deviation(&DistanceMatrix::from_fn(1, |_, _| 1.0)), vec![0.0]);
        assert!(raw_deviation(&DistanceMatrix::from_fn(0, |_, _| 1.0)).is_empty());
    }
}
