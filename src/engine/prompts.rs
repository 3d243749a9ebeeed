//! The training prompts as every lane and the probe meet them: in one seeded order, each as the
//! model reads it (chat template, the completion's end token), and why that can fail.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::engine::generate::LanguageModel;
use crate::engine::train::Method;

/// Why an experiment failed.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("{0}")]
    Engine(String),
    #[error("the experiment needs at least one method, one step and eval_every ≥ 1")]
    Config,
    #[error("no preference pairs could be built for {0:?}")]
    NoPairs(Method),
    #[error("there is no held-out prompt to evaluate (the data has none, or eval_prompts is 0)")]
    NoHeldOut,
}

pub(crate) fn engine<E: std::fmt::Display>(e: E) -> ExperimentError {
    ExperimentError::Engine(e.to_string())
}

/// Token ids of training prompt `prompt` (chat template) and of `text` as its completion, the
/// end token appended: what the trainer and the probe read.
pub fn response_tokens(lm: &LanguageModel, prompt: &str, text: &str) -> Result<(Vec<u32>, Vec<u32>), ExperimentError> {
    let tokenizer = lm.tokenizer();
    let end = *tokenizer.stop_ids().last().expect("a stop token");
    let prompt = tokenizer.encode(&LanguageModel::prompt_text(prompt, false)).map_err(engine)?;
    let mut completion = tokenizer.encode(text).map_err(engine)?;
    completion.push(end);
    Ok((prompt, completion))
}

/// The order in which every lane meets the training prompts: a Fisher–Yates shuffle of
/// 0…n−1 seeded by `seed`.
pub fn prompt_order(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for k in (1..order.len()).rev() {
        let j = ((rng.next_u64() as u128 * (k as u128 + 1)) >> 64) as usize;
        order.swap(k, j);
    }
    order
}
