//! Choosing the next token from logits: repetition penalty, temperature, top-k, top-p, in the
//! order Hugging Face's `generate` applies them, with a seeded RNG per continuation so the same
//! seed gives the same text on the same backend.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// How continuations are sampled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1 = all).
    pub top_p: f32,
    /// > 1 discourages tokens already in the text (prompt and continuation).
    pub repetition_penalty: f32,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { temperature: 0.8, top_k: 50, top_p: 0.95, repetition_penalty: 1.1, seed: 0 }
    }
}

/// Why sampling parameters were refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SamplingError {
    #[error("temperature must be ≥ 0 and finite, got {0}")]
    Temperature(f32),
    #[error("top-p must be in (0, 1], got {0}")]
    TopP(f32),
    #[error("repetition penalty must be > 0 and finite, got {0}")]
    RepetitionPenalty(f32),
}

impl SamplingParams {
    pub fn validate(&self) -> Result<(), SamplingError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(SamplingError::Temperature(self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(SamplingError::TopP(self.top_p));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(SamplingError::RepetitionPenalty(self.repetition_penalty));
        }
        Ok(())
    }
}

/// The RNG of continuation `index` of a run seeded with `seed`: one ChaCha8 stream each, so a
/// continuation's draws do not depend on how many others run beside it.
pub fn rng_for(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// A uniform draw in [0, 1) with 53 random bits.
fn uniform(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Divides positive logits by `penalty` and multiplies negative ones, once per distinct token
/// of `history` (Hugging Face's `RepetitionPenaltyLogitsProcessor`).
pub fn apply_repetition_penalty(logits: &mut [f32], history: &[u32], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    let mut seen = std::collections::HashSet::with_capacity(history.len());
    for &token in history {
        if let Some(l) = logits.get_mut(token as usize)
            && seen.insert(token)
        {
            *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
        }
    }
}

/// The index of the largest logit (the first one on a tie).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The next token after `history` given `logits` (modified in place).
pub fn sample(logits: &mut [f32], history: &[u32], params: &SamplingParams, rng: &mut impl RngCore) -> u32 {
    apply_repetition_penalty(logits, history, params.repetition_penalty);
    if params.temperature == 0.0 {
        return argmax(logits);
    }
    // Candidates sorted by logit, highest first (ties by index, so the order is deterministic).
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
    let k = if params.top_k == 0 { logits.len() } else { params.top_k.min(logits.len()) };
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, by_logit);
        order.truncate(k);
    }
    order.sort_unstable_by(by_logit);
    let max = logits[order[0] as usize] as f64;
    let t = params.temperature as f64;
    let mut probs: Vec<f64> = order.iter().map(|&i| ((logits[i as usize] as f64 - max) / t).exp()).collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    // Top-p: the shortest prefix whose mass reaches p (always at least one token).
    let mut kept = probs.len();
    if params.top_p < 1.0 {
        let mut mass = 0.0;
        for (n, p) in probs.iter().enumerate() {
            mass += p;
            if mass >= params.top_p as f64 {
                kept = n + 1;
                break;
            }
        }
    }
    let mass: f64 = probs[..kept].iter().sum();
    let mut target = uniform(rng) * mass;
    for (n, p) in probs[..kept].iter().enumerate() {
        if target < *p {
            return order[n];
        }
        target -= p;
    }
    order[kept - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_penalty_follows_hugging_face() {
        let mut logits = vec![2.0, -2.0, 1.0];
        apply_repetition_penalty(&mut logits, &[0, 1, 0], 2.0);
        assert_eq!(logits, vec![1.0, -4.0, 1.0]);
    }

    #[test]
    fn temperature_zero_is_argmax_after_the_penalty() {
        let params = SamplingParams { temperature: 0.0, repetition_penalty: 3.0, ..Default::default() };
        let mut rng = rng_for(0, 0);
        assert_eq!(sample(&mut [1.0, 3.0, 2.0], &[], &params, &mut rng), 1);
        assert_eq!(sample(&mut [1.0, 3.0, 2.0], &[1], &params, &mut rng), 2);
    }

    #[test]
    fn top_k_one_and_tiny_top_p_are_greedy() {
        let mut rng = rng_for(7, 3);
        let k1 = SamplingParams { top_k: 1, temperature: 5.0, repetition_penalty: 1.0, ..Default::default() };
        let p = SamplingParams { top_k: 0, top_p: 1e-6, temperature: 5.0, repetition_penalty: 1.0, ..Default::default() };
        for _ in 0..100 {
            assert_eq!(sample(&mut [0.5, 0.1, 0.7, 0.2], &[], &k1, &mut rng), 2);
            assert_eq!(sample(&mut [0.5, 0.1, 0.7, 0.2], &[], &p, &mut rng), 2);
        }
    }

    #[test]
    fn draws_follow_the_softmax_and_are_reproducible() {
        let params = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, repetition_penalty: 1.0, seed: 0 };
        let logits = [0.0f32, (3.0f32).ln()]; // probabilities 1/4 and 3/4
        let draw = |seed| {
            let mut rng = rng_for(seed, 0);
            (0..4000).map(|_| sample(&mut logits.to_vec(), &[], &params, &mut rng)).collect::<Vec<_>>()
        };
        let a = draw(1);
        assert_eq!(a, draw(1));
        assert_ne!(a, draw(2));
        let share = a.iter().filter(|&&t| t == 1).count() as f64 / a.len() as f64;
        assert!((share - 0.75).abs() < 0.03, "share of the likelier token {share}");
    }

    #[test]
    fn streams_differ_per_continuation() {
        assert_ne!(rng_for(0, 0).next_u64(), rng_for(0, 1).next_u64());
    }

    #[test]
    fn bad_parameters_are_refused() {
        let bad = |f: fn(&mut SamplingParams)| {
            let mut p = SamplingParams::default();
            f(&mut p);
            p.validate()
        };
        assert_eq!(bad(|p| p.temperature = -1.0), Err(SamplingError::Temperature(-1.0)));
        assert_eq!(bad(|p| p.top_p = 0.0), Err(SamplingError::TopP(0.0)));
        assert!(bad(|p| p.repetition_penalty = f32::NAN).is_err());
        assert_eq!(SamplingParams::default().validate(), Ok(()));
    }
}
