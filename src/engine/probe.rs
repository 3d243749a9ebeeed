//! The mechanism probe: how a policy's likelihood of the good training responses moved from the
//! reference's, against their deviation (formulas in [`crate::core::mechanism`]). No sampling:
//! the same policy always gives the same numbers.
//!
//! The probe set: the good responses of the first `prompts` training prompts in the order every
//! lane meets them ([`prompt_order`]: the prompts trained on first). "Good" is a score of at
//! least 4 when every score of the set is an integer from 1 to 5 (the toy set's scale), else
//! the top half of each prompt by score (ties at the cut included). With the default 4 prompts
//! of the toy set that is 16 responses (4 per prompt): each prompt is read once and its keys and
//! values serve its 4 responses ([`shared_prompt_logp_sums`]), no backward pass.
//! π_ref (adapters off) is computed once when the probe is built.

use serde::{Deserialize, Serialize};

use crate::core::dataset::PreferenceSet;
use crate::core::mechanism::{Gain, Mechanism, mechanism};
use crate::engine::analysis::Analysis;
use crate::engine::reference::ReferenceLogps;
use crate::engine::prompts::{ExperimentError, prompt_order, response_tokens};
use crate::engine::generate::LanguageModel;
use crate::engine::logps::shared_prompt_logp_sums;
use crate::engine::train::{Method, TrainError};
use crate::model::llama::{Adapters, Llama};
use burn::tensor::Device;

/// Training prompts probed unless told otherwise.
pub const PROBE_PROMPTS: usize = 4;
/// Sequences per forward pass (bounds the probe's memory).
const CHUNK: usize = 8;

/// One probed response, tokenised.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeItem {
    pub prompt: usize,
    pub response: usize,
    pub score: f64,
    /// The response's semantic deviation among its prompt's responses (as the weights use).
    pub deviation: f64,
    pub prompt_ids: Vec<u32>,
    /// Completion ids, end token included.
    pub completion: Vec<u32>,
}

/// One probe of one policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbePoint {
    /// `None` for the base model (step 0, every gain 0).
    pub method: Option<Method>,
    pub step: usize,
    #[serde(flatten)]
    pub mechanism: Mechanism,
    pub gains: Vec<Gain>,
}

/// Whether every score is an integer from 1 to 5.
fn one_to_five(set: &PreferenceSet) -> bool {
    set.train.iter().flat_map(|p| &p.responses).all(|r| r.score.fract() == 0.0 && (1.0..=5.0).contains(&r.score))
}

/// Indices of the good responses among `scores` (see the module docs).
pub fn good_responses(scores: &[f64], one_to_five: bool) -> Vec<usize> {
    let cut = if one_to_five {
        4.0
    } else {
        let mut sorted = scores.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        sorted.get(sorted.len().div_ceil(2).saturating_sub(1)).copied().unwrap_or(f64::INFINITY)
    };
    (0..scores.len()).filter(|&i| scores[i] >= cut).collect()
}

/// (prompt, response) of every probed response, in training order.
pub fn select(set: &PreferenceSet, seed: u64, prompts: usize) -> Vec<(usize, usize)> {
    let scale = one_to_five(set);
    prompt_order(set.train.len(), seed)
        .into_iter()
        .map(|p| (p, good_responses(&set.train[p].responses.iter().map(|r| r.score).collect::<Vec<_>>(), scale)))
        .filter(|(_, good)| !good.is_empty())
        .take(prompts)
        .flat_map(|(p, good)| good.into_iter().map(move |r| (p, r)))
        .collect()
}

/// The probe items `picked` ([`select`]'s (prompt, response) pairs) of `set`, tokenised like the
/// training pairs (their prompts analysed in `analysis`).
pub fn items(lm: &LanguageModel, set: &PreferenceSet, analysis: &Analysis, picked: &[(usize, usize)]) -> Result<Vec<ProbeItem>, ExperimentError> {
    picked
        .iter()
        .map(|&(p, r)| {
            let response = &set.train[p].responses[r];
            let (prompt_ids, completion) = response_tokens(lm, &set.train[p].prompt, &response.text)?;
            let deviation = analysis.prompt(p)?.deviation[r];
            Ok(ProbeItem { prompt: p, response: r, score: response.score, deviation, prompt_ids, completion })
        })
        .collect()
}

/// A probe set with its reference log-probs.
#[derive(Clone, Debug)]
pub struct Probe {
    items: Vec<ProbeItem>,
    reference: Vec<f32>,
}

impl Probe {
    /// Builds the probe, computing π_ref (`base` with adapters off) once.
    pub async fn new(base: &Llama, items: Vec<ProbeItem>, device: &Device) -> Result<Self, TrainError> {
        let reference = sums(base, &items, Adapters::Off, device).await?;
        Ok(Self { items, reference })
    }

    pub fn items(&self) -> &[ProbeItem] {
        &self.items
    }

    /// Puts every item's reference log-prob into `cache`, so that trainers sharing it do not
    /// read those sequences again: the items are the good responses of the first prompts
    /// trained on, which the first pairs mostly choose.
    pub fn lend_reference(&self, cache: &ReferenceLogps) {
        for (item, &sum) in self.items.iter().zip(&self.reference) {
            cache.insert(&item.prompt_ids, &item.completion, sum);
        }
    }

    /// Each item's summed log-prob under `policy` (adapters on).
    pub async fn logps(&self, policy: &Llama, device: &Device) -> Result<Vec<f32>, TrainError> {
        sums(policy, &self.items, Adapters::On, device).await
    }

    /// The probe of `policy`: per-token gains and the mechanism numbers.
    pub async fn measure(&self, policy: &Llama, method: Option<Method>, step: usize, device: &Device) -> Result<ProbePoint, TrainError> {
        let logps = self.logps(policy, device).await?;
        Ok(self.point(&logps, method, step))
    }

    /// The probe of the base model, which is the reference: every gain is 0, from the
    /// reference log-probs the probe already holds, without reading the items again (the
    /// same numbers [`Probe::measure`] gives the base model, without its forward pass).
    pub fn base(&self, step: usize) -> ProbePoint {
        self.point(&self.reference, None, step)
    }

    /// Each item's gain per token, (log π − log π_ref) / tokens, from `logps`, and the
    /// mechanism numbers of those gains.
    fn point(&self, logps: &[f32], method: Option<Method>, step: usize) -> ProbePoint {
        let gains: Vec<Gain> = self
            .items
            .iter()
            .zip(logps.iter().zip(&self.reference))
            .map(|(item, (&policy, &reference))| Gain {
                prompt: item.prompt,
                deviation: item.deviation,
                gain: (policy as f64 - reference as f64) / item.completion.len() as f64,
                score: item.score,
            })
            .collect();
        ProbePoint { method, step, mechanism: mechanism(&gains), gains }
    }
}

/// Each item's summed log-prob: the items of one prompt (adjacent, in training order) share
/// one pass over the prompt, at most [`CHUNK`] completions at a time.
async fn sums(model: &Llama, items: &[ProbeItem], adapters: Adapters, device: &Device) -> Result<Vec<f32>, TrainError> {
    let mut out = Vec::with_capacity(items.len());
    for group in items.chunk_by(|a, b| a.prompt_ids == b.prompt_ids) {
        for chunk in group.chunks(CHUNK) {
            let completions: Vec<Vec<u32>> = chunk.iter().map(|i| i.completion.clone()).collect();
            out.extend(shared_prompt_logp_sums(model, &chunk[0].prompt_ids, &completions, adapters, device).await?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dataset::{ScoredResponse, TrainPrompt};

    fn set(scores: &[&[f64]]) -> PreferenceSet {
        let train = scores
            .iter()
            .enumerate()
            .map(|(i, s)| TrainPrompt {
                prompt: format!("p{i}"),
                responses: s.iter().map(|&score| ScoredResponse { text: format!("r{score}"), score }).collect(),
            })
            .collect();
        PreferenceSet { version: 1, description: String::new(), train, heldout: Vec::new() }
    }

    #[test]
    fn good_means_four_or_more_on_the_one_to_five_scale_else_the_top_half() {
        assert_eq!(good_responses(&[5.0, 4.0, 4.0, 5.0, 2.0, 1.0], true), [0, 1, 2, 3]);
        assert_eq!(good_responses(&[3.0, -1.0, 0.0, 2.0], false), [0, 3]);
        assert_eq!(good_responses(&[1.0, 1.0, 0.0], false), [0, 1], "ties at the cut count");
        assert!(one_to_five(&set(&[&[5.0, 1.0]])));
        assert!(!one_to_five(&set(&[&[5.0, 0.5]])));
    }

    #[test]
    fn the_probe_follows_the_training_order() {
        let s = set(&[&[5.0, 4.0, 1.0], &[2.0, 1.0], &[4.0, 5.0, 3.0]]);
        let order = prompt_order(3, 9);
        let picked = select(&s, 9, 2);
        let prompts: Vec<usize> = order.into_iter().filter(|&p| p != 1).take(2).collect();
        let expected: Vec<(usize, usize)> = prompts.iter().flat_map(|&p| [(p, 0), (p, 1)]).collect();
        assert_eq!(picked, expected);
    }
}
