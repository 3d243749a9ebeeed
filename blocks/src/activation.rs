//! Activations in place, vectorised with rten-vecmath on AVX-512/AVX2 natively and simd128 in
//! the browser, split over rayon's threads natively (burn's CPU backend runs libm's scalar
//! functions on one thread):
//! - GELU, gelu(x) = x·Φ(x) = ½·x·(1 + erf(x/√2)), the erf form (not the tanh approximation):
//!   rten-vecmath's `Gelu`, whose erf is Abramowitz–Stegun 7.1.26, at most 6.6e-7 from libm's
//!   `erff` in absolute terms. MiniLM's feed-forward layers apply it to B·L × 1536 values a layer.
//! - the logistic sigmoid, σ(x) = 1/(1 + e^(−x)): rten-vecmath's `Sigmoid`, within 4 ULP of
//!   `1/(1 + (−x).exp())`. SmolLM2's SiLU, x·σ(x), applies it to rows × 1536 values a layer.

use rten_simd::SimdUnaryOp;

/// Values per task: large enough that a task costs far more than handing it out.
const CHUNK: usize = 16 * 1024;

/// gelu of every value of `values`, in place.
pub fn gelu_in_place(values: &mut [f32]) {
    map_in_place(&rten_vecmath::Gelu {}, values)
}

/// σ of every value of `values`, in place.
pub fn sigmoid_in_place(values: &mut [f32]) {
    map_in_place(&rten_vecmath::Sigmoid {}, values)
}

fn map_in_place<Op: SimdUnaryOp<f32> + Sync>(op: &Op, values: &mut [f32]) {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        values.par_chunks_mut(CHUNK).for_each(|chunk| op.map_mut(chunk));
    }
    #[cfg(not(feature = "rayon"))]
    values.chunks_mut(CHUNK).for_each(|chunk| op.map_mut(chunk));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values over [-8, 8), both tails and more than one task.
    fn range() -> Vec<f32> {
        (0..3 * CHUNK + 7).map(|i| (i as f32 / (3 * CHUNK) as f32 - 0.5) * 16.0).collect()
    }

    /// Against the definition in f64 (erf from libm's f64 version).
    #[test]
    fn gelu_matches_the_definition() {
        let mut values = range();
        let inputs = values.clone();
        let expected: Vec<f64> =
            values.iter().map(|&x| 0.5 * f64::from(x) * (1.0 + libm::erf(f64::from(x) / std::f64::consts::SQRT_2))).collect();
        gelu_in_place(&mut values);
        for (got, want) in values.iter().zip(&expected) {
            assert!((f64::from(*got) - want).abs() <= 1e-6 * (1.0 + want.abs()), "{got} vs {want}");
        }
        assert_eq!(values[0], 0.0, "gelu(-8) rounds to zero");
        assert_eq!(values[values.len() - 1], inputs[inputs.len() - 1], "gelu(8) rounds to 8");
        assert!(values.iter().zip(&inputs).any(|(y, x)| y != x), "the values were changed");
    }

    /// Against the definition in f64, to a few f32 ULP (rten-vecmath's bound is 4).
    #[test]
    fn sigmoid_matches_the_definition() {
        let mut values = range();
        let inputs = values.clone();
        sigmoid_in_place(&mut values);
        for (got, x) in values.iter().zip(&inputs) {
            let want = 1.0 / (1.0 + (-f64::from(*x)).exp());
            assert!((f64::from(*got) - want).abs() <= 8.0 * f64::from(f32::EPSILON) * want, "σ({x}) = {got}, want {want}");
        }
        assert!(values.iter().zip(&inputs).any(|(y, x)| y != x), "the values were changed");
    }
}
