//! Batched, seeded generation of N continuations of one prompt with SmolLM2 on any burn `Device`.
//!
//! The prompt is read once (batch 1), its KV cache repeated N times, then all running
//! continuations step together; a continuation that stops leaves the batch.

use std::ops::ControlFlow;

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::core::sampling::{SamplingError, SamplingParams, rng_for, sample};
use crate::model::bpe::{BpeError, ChatTokenizer, DEFAULT_SYSTEM, chat_prompt};
use crate::model::gguf::{Gguf, GgufError};
use crate::model::llama::{Adapters, KvCache, Llama, LlamaConfig};

/// The SmolLM2 file the page and the CLI load (from `make models`, in www/models/).
pub const GGUF_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Most continuations one request may ask for.
pub const MAX_CONTINUATIONS: usize = 16;
/// Most new tokens one continuation may ask for.
pub const MAX_NEW_TOKENS: usize = 1024;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateParams {
    pub n: usize,
    pub max_tokens: usize,
    /// End tokens are suppressed until a continuation has this many tokens (benchmarks use it
    /// to make every continuation the same length).
    pub min_tokens: usize,
    #[serde(flatten)]
    pub sampling: SamplingParams,
    /// Feed the prompt as is, without the chat template.
    pub raw: bool,
}

impl Default for GenerateParams {
    fn default() -> Self {
        Self { n: 4, max_tokens: 64, min_tokens: 0, sampling: SamplingParams::default(), raw: false }
    }
}

impl GenerateParams {
    /// Why these parameters cannot be used, if they cannot (the prompt is checked on its own).
    pub fn check(&self) -> Result<(), GenerateError> {
        self.sampling.validate()?;
        if !(1..=MAX_CONTINUATIONS).contains(&self.n) {
            return Err(GenerateError::Count(self.n));
        }
        if !(1..=MAX_NEW_TOKENS).contains(&self.max_tokens) {
            return Err(GenerateError::MaxTokens(self.max_tokens));
        }
        Ok(())
    }
}

/// Why generation failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Tokenizer(#[from] BpeError),
    #[error(transparent)]
    Sampling(#[from] SamplingError),
    #[error("n must be between 1 and {MAX_CONTINUATIONS}, got {0}")]
    Count(usize),
    #[error("max tokens must be between 1 and {MAX_NEW_TOKENS}, got {0}")]
    MaxTokens(usize),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt and continuation ({0} tokens) exceed the model's context of {1}")]
    Context(usize, usize),
    #[error("reading logits back from the device failed: {0}")]
    Readback(String),
}

/// Why a continuation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// It produced an end token: the last of its ids, not part of its text.
    Stop,
    /// It reached the token limit.
    Length,
    /// The caller stopped the run.
    Cancelled,
}

/// One continuation: its text and the ids of its generated tokens (an end token included, as
/// the preference losses count it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Continuation {
    pub text: String,
    pub token_ids: Vec<u32>,
    pub finish: Finish,
}

/// What the generator reports while it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum GenerateEvent {
    /// Continuation `index` grew by `delta` (whole characters only).
    Token { index: usize, token_id: u32, delta: String },
    /// Continuation `index` ended.
    Finished { index: usize, continuation: Continuation },
}

/// SmolLM2 and its tokeniser, on one device.
pub struct LanguageModel {
    model: Llama,
    config: LlamaConfig,
    tokenizer: ChatTokenizer,
    device: Device,
}

struct Running {
    index: usize,
    ids: Vec<u32>,
    text: String,
    rng: rand_chacha::ChaCha8Rng,
}

impl LanguageModel {
    /// Reads the GGUF bytes: tokeniser and weights (dequantised to f32 on `device`).
    pub fn from_gguf_bytes(bytes: &[u8], device: &Device) -> Result<Self, GenerateError> {
        let gguf = Gguf::parse(bytes)?;
        let tokenizer = ChatTokenizer::from_gguf(&gguf)?;
        let (model, config) = Llama::from_gguf(&gguf, device)?;
        // Every id the tokeniser can produce must have an embedding row.
        if tokenizer.vocab_size() > config.vocab {
            let why = format!("{} rows, but the tokeniser has {} tokens", config.vocab, tokenizer.vocab_size());
            return Err(GgufError::Malformed("token_embd.weight".into(), why).into());
        }
        Ok(Self { model, config, tokenizer, device: device.clone() })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    pub fn tokenizer(&self) -> &ChatTokenizer {
        &self.tokenizer
    }

    pub fn model(&self) -> &Llama {
        &self.model
    }

    /// The text the model reads for `prompt`: the chat template with the paper's system line,
    /// or the prompt itself when `raw`.
    pub fn prompt_text(prompt: &str, raw: bool) -> String {
        if raw { prompt.to_string() } else { chat_prompt(DEFAULT_SYSTEM, prompt) }
    }

    /// Logits of the token after `ids` (one sequence), [vocab].
    pub async fn first_logits(&self, ids: &[u32]) -> Result<Vec<f32>, GenerateError> {
        next_logits(&self.model, &self.device, ids.to_vec(), 1, &mut KvCache::default()).await
    }

    pub fn device(&self) -> &Device {
        &self.device
    }


    /// Generates `params.n` continuations of `prompt`, calling `on_event` for every token and
    /// every finished continuation; `on_event` returning `Break` stops the run (the texts so far
    /// are returned, marked [`Finish::Cancelled`]).
    pub async fn generate(
        &self,
        prompt: &str,
        params: &GenerateParams,
        mut on_event: impl FnMut(GenerateEvent) -> ControlFlow<()>,
    ) -> Result<Vec<Continuation>, GenerateError> {
        let mut run = Generation::start(self, prompt, params).await?;
        while !run.is_done() {
            for event in run.step().await? {
                if on_event(event).is_break() {
                    run.cancel()?;
                }
            }
        }
        Ok(run.into_continuations())
    }
}

/// Logits of the next token after each row of `ids` ([B, T]) under `model`; updates `cache`.
async fn next_logits(model: &Llama, device: &Device, ids: Vec<u32>, batch: usize, cache: &mut KvCache) -> Result<Vec<f32>, GenerateError> {
    let len = ids.len() / batch;
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids.iter().map(|&i| i as i64).collect(), [batch, len]), device);
    let hidden = model.forward(ids, cache, None, Adapters::On);
    let [_, _, width] = hidden.dims();
    let last = hidden.narrow(1, len - 1, 1).reshape([batch, width]);
    crate::engine::readback::floats(model.logits(last)).await.map_err(GenerateError::Readback)
}

/// A generation in progress: call [`Generation::step`] until [`Generation::is_done`]. Between
/// steps a caller may do other work (the browser worker answers requests) or [`Generation::cancel`].
pub struct Generation<'a> {
    lm: &'a LanguageModel,
    /// The weights that generate: the loaded model, or a tuned policy.
    model: &'a Llama,
    params: GenerateParams,
    prompt_ids: Vec<u32>,
    cache: KvCache,
    /// Logits of the next token, one row per running continuation.
    logits: Vec<f32>,
    running: Vec<Running>,
    done: Vec<Option<Continuation>>,
}

impl<'a> Generation<'a> {
    /// Checks the parameters and reads the prompt (once, then shared by every continuation).
    pub async fn start(lm: &'a LanguageModel, prompt: &str, params: &GenerateParams) -> Result<Self, GenerateError> {
        Self::start_with(lm, &lm.model, prompt, params).await
    }

    /// As [`Generation::start`], generating with `model` (e.g. a LoRA policy) and `lm`'s tokeniser.
    pub async fn start_with(lm: &'a LanguageModel, model: &'a Llama, prompt: &str, params: &GenerateParams) -> Result<Self, GenerateError> {
        params.check()?;
        if prompt.trim().is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        let prompt_ids = lm.tokenizer.encode(&LanguageModel::prompt_text(prompt, params.raw))?;
        let total = prompt_ids.len() + params.max_tokens;
        if prompt_ids.is_empty() || total > lm.config.context {
            return Err(GenerateError::Context(total, lm.config.context));
        }
        let mut cache = KvCache::default();
        let first = next_logits(model, &lm.device, prompt_ids.clone(), 1, &mut cache).await?;
        cache.repeat(params.n);
        let logits = (0..params.n).flat_map(|_| first.iter().copied()).collect();
        let running = (0..params.n)
            .map(|index| Running { index, ids: Vec::new(), text: String::new(), rng: rng_for(params.sampling.seed, index) })
            .collect();
        Ok(Self { lm, model, params: params.clone(), prompt_ids, cache, logits, running, done: vec![None; params.n] })
    }

    /// The prompt's token ids as the model read them.
    pub fn prompt_ids(&self) -> &[u32] {
        &self.prompt_ids
    }

    pub fn is_done(&self) -> bool {
        self.running.is_empty()
    }

    /// Samples one token for every running continuation, reports it, retires those that ended,
    /// and computes the next logits.
    pub async fn step(&mut self) -> Result<Vec<GenerateEvent>, GenerateError> {
        let (tokenizer, vocab) = (&self.lm.tokenizer, self.lm.config.vocab);
        let mut events = Vec::new();
        let mut next = Vec::with_capacity(self.running.len());
        let mut keep = Vec::with_capacity(self.running.len());
        let mut history = self.prompt_ids.clone();
        for (row, run) in self.running.iter_mut().enumerate() {
            history.truncate(self.prompt_ids.len());
            history.extend(&run.ids);
            let row_logits = &mut self.logits[row * vocab..(row + 1) * vocab];
            if run.ids.len() < self.params.min_tokens {
                for &stop in tokenizer.stop_ids() {
                    if let Some(l) = row_logits.get_mut(stop as usize) {
                        *l = f32::NEG_INFINITY;
                    }
                }
            }
            let token = sample(row_logits, &history, &self.params.sampling, &mut run.rng);
            run.ids.push(token);
            let stop = tokenizer.stop_ids().contains(&token);
            if !stop {
                let text = tokenizer.decode(&run.ids)?;
                // Hold back a partial UTF-8 character until its last byte arrives.
                if !text.ends_with('\u{FFFD}') && text.starts_with(&run.text) {
                    let delta = text[run.text.len()..].to_string();
                    run.text = text;
                    events.push(GenerateEvent::Token { index: run.index, token_id: token, delta });
                }
            }
            let finish = if stop {
                Some(Finish::Stop)
            } else if run.ids.len() >= self.params.max_tokens {
                Some(Finish::Length)
            } else {
                None
            };
            match finish {
                Some(finish) => {
                    let continuation = Continuation { text: tokenizer.decode(&run.ids)?, token_ids: run.ids.clone(), finish };
                    events.push(GenerateEvent::Finished { index: run.index, continuation: continuation.clone() });
                    self.done[run.index] = Some(continuation);
                }
                None => {
                    keep.push(row);
                    next.push(token);
                }
            }
        }
        if keep.len() < self.running.len() {
            self.cache.retain(&keep);
            let mut row = 0;
            self.running.retain(|_| {
                row += 1;
                keep.contains(&(row - 1))
            });
        }
        if !self.running.is_empty() {
            self.logits = next_logits(self.model, &self.lm.device, next, self.running.len(), &mut self.cache).await?;
        }
        Ok(events)
    }

    /// Ends every running continuation as it stands ([`Finish::Cancelled`]) and returns them.
    pub fn cancel(&mut self) -> Result<Vec<GenerateEvent>, GenerateError> {
        let mut events = Vec::new();
        for run in self.running.drain(..) {
            let continuation =
                Continuation { text: self.lm.tokenizer.decode(&run.ids)?, token_ids: run.ids, finish: Finish::Cancelled };
            events.push(GenerateEvent::Finished { index: run.index, continuation: continuation.clone() });
            self.done[run.index] = Some(continuation);
        }
        Ok(events)
    }

    /// Every continuation, in order (call when [`Generation::is_done`]).
    pub fn into_continuations(self) -> Vec<Continuation> {
        self.done.into_iter().map(|c| c.expect("every continuation ended")).collect()
    }
}
