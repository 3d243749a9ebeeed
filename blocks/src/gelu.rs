//! GELU in place: gelu(x) = x·Φ(x) = ½·x·(1 + erf(x/√2)), the erf form (not the tanh
//! approximation), vectorised: rten-vecmath's `Gelu` (its erf is Abramowitz–Stegun 7.1.26, at
//! most 6.6e-7 from libm's `erff` in absolute terms) on AVX-512/AVX2 natively and simd128 in
//! the browser, split over rayon's threads natively. burn's CPU backend runs libm's scalar erf on
//! one thread, and MiniLM's feed-forward layers apply it to B·L × 1536 values per layer.

/// Values per task: large enough that a task costs far more than handing it out.
const CHUNK: usize = 16 * 1024;

/// gelu of every value of `values`, in place.
pub fn gelu_in_place(values: &mut [f32]) {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        values.par_chunks_mut(CHUNK).for_each(gelu_chunk);
    }
    #[cfg(not(feature = "rayon"))]
    values.chunks_mut(CHUNK).for_each(gelu_chunk);
}

fn gelu_chunk(values: &mut [f32]) {
    use rten_simd::SimdUnaryOp;
    rten_vecmath::Gelu {}.map_mut(values);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition in f64 (erf from libm's f64 version), over a range that covers
    /// both tails and more than one task.
    #[test]
    fn matches_the_definition() {
        let mut values: Vec<f32> = (0..3 * CHUNK + 7).map(|i| (i as f32 / (3 * CHUNK) as f32 - 0.5) * 16.0).collect();
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
}
