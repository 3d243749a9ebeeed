//! What a training step and the log-probs it reads share: the tokenised pairs of a batch, and
//! why a step could not run.

/// One tokenised preference pair; `key` identifies it for the reference cache.
#[derive(Clone, Debug, PartialEq)]
pub struct PairTokens {
    pub key: u64,
    pub prompt: Vec<u32>,
    /// Completion ids, an end token included.
    pub chosen: Vec<u32>,
    pub rejected: Vec<u32>,
    /// The chosen response's deviation weight (used by the weighted methods only).
    pub weight: f64,
}

impl PairTokens {
    /// (prompt, chosen) and (prompt, rejected): the two sequences the pair's log-probs read.
    pub fn sequences(&self) -> [(&[u32], &[u32]); 2] {
        [(&self.prompt, &self.chosen), (&self.prompt, &self.rejected)]
    }
}

/// Why a step could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("a step needs at least one pair")]
    NoPairs,
    /// The pair's key (or, for log-probs after one prompt, the completion's index).
    #[error("pair {0} has an empty completion")]
    EmptyCompletion(u64),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("reading values back from the device failed: {0}")]
    Readback(String),
    #[error("LoRA adapters: {0}")]
    Adapters(String),
}
