//! One preference-tuning step on SmolLM2 with LoRA: policy log-probs (adapters on, autodiff),
//! reference log-probs (adapters off, computed once per pair and cached), the method's loss,
//! backward, AdamW on the adapters only with gradient-norm clipping. A non-finite loss or update
//! is rejected: the adapters and the optimiser state stay as they were.

use std::collections::HashMap;
use std::str::FromStr;

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::engine::losses::{PreferenceTerms, ddpo_loss, dorpo_loss};
use crate::model::llama::{Adapters, KvCache, Llama, LoraConfig, Target};

/// The preference-tuning methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Dpo,
    Ddpo,
    Orpo,
    Dorpo,
    /// DPO's loss on DivPO's pairs (chosen by deviation within the score quartiles).
    Divpo,
}

impl Method {
    pub const ALL: [Method; 5] = [Method::Dpo, Method::Ddpo, Method::Orpo, Method::Dorpo, Method::Divpo];

    /// Whether pairs carry the deviation weight of their chosen response.
    pub fn weighted(self) -> bool {
        matches!(self, Method::Ddpo | Method::Dorpo)
    }

    /// Whether the loss is ORPO's odds ratio (no reference model) rather than DPO's.
    pub fn odds_ratio(self) -> bool {
        matches!(self, Method::Orpo | Method::Dorpo)
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Dpo => "dpo",
            Method::Ddpo => "ddpo",
            Method::Orpo => "orpo",
            Method::Dorpo => "dorpo",
            Method::Divpo => "divpo",
        }
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("unknown method {s:?} (dpo, ddpo, orpo, dorpo, divpo)"))
    }
}

/// Training hyper-parameters (the paper's β and λ by default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub beta: f64,
    pub lambda: f64,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Gradients are scaled down to at most this global L2 norm.
    pub max_grad_norm: f64,
    pub lora: LoraConfig,
    /// Seeds the adapters' initialisation (and, in experiments, the pairs).
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { beta: 0.1, lambda: 0.25, learning_rate: 5e-4, weight_decay: 0.0, max_grad_norm: 1.0, lora: LoraConfig::default(), seed: 0 }
    }
}

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

/// TRL's metrics of one step (means over the batch's pairs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub loss: f64,
    #[serde(rename = "rewards/chosen")]
    pub rewards_chosen: f64,
    #[serde(rename = "rewards/rejected")]
    pub rewards_rejected: f64,
    #[serde(rename = "rewards/margins")]
    pub rewards_margins: f64,
    #[serde(rename = "rewards/accuracies")]
    pub rewards_accuracies: f64,
    /// Per pair: (rewards/chosen, rewards/rejected).
    pub per_pair: Vec<(f64, f64)>,
}

/// What a step did.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    Applied(StepMetrics),
    /// Nothing changed; the reason says what was not finite.
    Rejected(String),
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

/// Snapshot paths of the LoRA factors (burn names the reparameterization `lora`).
const ADAPTER_PATHS: &str = r"\.lora\.";

/// Summed and mean completion log-probs per row ([2P]: chosen rows, then rejected rows), and
/// (for ORPO/DORPO) the chosen rows' cross-entropy over all their tokens, prompt and completion,
/// as TRL's ORPOTrainer computes it (its NLL term is over the whole chosen sequence).
struct SequenceLogps {
    sum: Tensor<1>,
    mean: Tensor<1>,
    chosen_nll: Option<Tensor<1>>,
}

async fn read(x: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    crate::engine::readback::floats(x).await.map_err(TrainError::Readback)
}

/// Log-probs of `pairs` under `model` (adapters on or off): chosen rows, then rejected rows;
/// with `nll`, also the chosen rows' cross-entropy.
fn sequence_logps(model: &Llama, pairs: &[PairTokens], adapters: Adapters, nll: bool, device: &Device) -> SequenceLogps {
    let rows: Vec<(usize, Vec<u32>)> = pairs
        .iter()
        .map(|pair| (pair.prompt.len(), [pair.prompt.as_slice(), &pair.chosen].concat()))
        .chain(pairs.iter().map(|pair| (pair.prompt.len(), [pair.prompt.as_slice(), &pair.rejected].concat())))
        .collect();
    row_logps(model, &rows, if nll { pairs.len() } else { 0 }, adapters, device)
}

/// Mean per-token log-prob of each completion after `prompt` under `model` (quality proxy).
pub async fn mean_completion_logps(
    model: &Llama,
    prompt: &[u32],
    completions: &[Vec<u32>],
    adapters: Adapters,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let rows: Vec<(usize, Vec<u32>)> = completions.iter().map(|c| (prompt.len(), [prompt, c.as_slice()].concat())).collect();
    read(row_logps(model, &rows, 0, adapters, device).mean).await
}

/// Summed log-prob of each completion after its prompt under `model`: `rows` are (prompt ids,
/// completion ids incl. the end token). The same computation the trainer's loss reads.
pub async fn completion_logp_sums(
    model: &Llama,
    rows: &[(Vec<u32>, Vec<u32>)],
    adapters: Adapters,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let rows: Vec<(usize, Vec<u32>)> = rows.iter().map(|(p, c)| (p.len(), [p.as_slice(), c.as_slice()].concat())).collect();
    read(row_logps(model, &rows, 0, adapters, device).sum).await
}

/// Summed log-prob of each of `completions` (ids incl. the end token) after one shared
/// `prompt` under `model`: the prompt runs once and its keys and values serve every completion,
/// so several responses to one prompt (the probe's) cost one prompt pass, not one each. The
/// prompt's last position predicts every completion's first token; completion position j
/// predicts token j + 1 (rows padded on the right, which causal attention never reads). Equal
/// to [`completion_logp_sums`] on the same sequences up to rounding.
pub async fn shared_prompt_logp_sums(
    model: &Llama,
    prompt: &[u32],
    completions: &[Vec<u32>],
    adapters: Adapters,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let n = completions.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    if prompt.is_empty() {
        return Err(TrainError::EmptyPrompt);
    }
    if let Some(empty) = completions.iter().position(Vec::is_empty) {
        return Err(TrainError::EmptyCompletion(empty as u64));
    }
    let ids = |values: Vec<i64>, rows: usize| {
        let cols = values.len() / rows;
        Tensor::<2, Int>::from_data(TensorData::new(values, [rows, cols]), device)
    };
    let mut cache = KvCache::default();
    let hidden = model.forward(ids(prompt.iter().map(|&id| i64::from(id)).collect(), 1), &mut cache, None, adapters);
    let [_, p, width] = hidden.dims();
    let first_ids: Vec<i64> = completions.iter().map(|c| i64::from(c[0])).collect();
    let first_ids = Tensor::<1, Int>::from_data(TensorData::new(first_ids, [n]), device);
    let last = hidden.narrow(1, p - 1, 1).reshape([1, width]);
    let mut sums = log_softmax(model.logits(last), 1).select(1, first_ids).reshape([n]);
    let t = completions.iter().map(|c| c.len() - 1).max().unwrap_or(0);
    if t > 0 {
        let (mut grid, mut picked, mut targets, mut select) = (vec![0i64; n * t], Vec::new(), Vec::new(), Vec::new());
        for (row, c) in completions.iter().enumerate() {
            for pos in 0..c.len() - 1 {
                grid[row * t + pos] = i64::from(c[pos]);
                picked.push((row * t + pos) as i64);
                targets.push(i64::from(c[pos + 1]));
                select.push(row);
            }
        }
        let m = picked.len();
        let mut matrix = vec![0f32; n * m];
        select.iter().enumerate().for_each(|(k, &row)| matrix[row * m + k] = 1.0);
        cache.repeat(n);
        let hidden = model.forward(ids(grid, n), &mut cache, None, adapters).reshape([n * t, width]);
        let picked = Tensor::<1, Int>::from_data(TensorData::new(picked, [m]), device);
        let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [m, 1]), device);
        let token_logp = log_softmax(model.logits(hidden.select(0, picked)), 1).gather(1, targets);
        let matrix = Tensor::<2>::from_data(TensorData::new(matrix, [n, m]), device);
        sums = sums + matrix.matmul(token_logp).reshape([n]);
    }
    read(sums).await
}

/// Log-probs of `rows` = (prompt length, prompt + completion ids); the cross-entropy is over
/// every token of the first `nll_rows` rows (none when 0).
///
/// The vocabulary head (576 × 49,152) and its log-softmax are the costliest part of a step,
/// so they run only on the positions a loss reads: completion tokens, plus the NLL rows' prompt
/// tokens, never padding. Per-row sums are then a product with a 0/1 selection matrix.
fn row_logps(model: &Llama, rows: &[(usize, Vec<u32>)], nll_rows: usize, adapters: Adapters, device: &Device) -> SequenceLogps {
    // Position t reads token t and predicts token t + 1; rows are padded on the right.
    let t = rows.iter().map(|(_, ids)| ids.len() - 1).max().unwrap_or(1);
    let r = rows.len();
    let mut ids = vec![0i64; r * t];
    let (mut picked, mut targets) = (Vec::new(), Vec::new());
    // Which picked positions are a row's completion, and which count in the NLL.
    let (mut completion, mut in_nll) = (Vec::new(), Vec::new());
    for (row, (prompt_len, seq)) in rows.iter().enumerate() {
        for pos in 0..seq.len() - 1 {
            ids[row * t + pos] = seq[pos] as i64;
            let is_completion = pos + 1 >= *prompt_len;
            if is_completion || row < nll_rows {
                picked.push((row * t + pos) as i64);
                targets.push(seq[pos + 1] as i64);
                completion.push((row, is_completion));
                in_nll.push(row < nll_rows);
            }
        }
    }
    let n = picked.len();
    let mut select = vec![0f32; r * n];
    for (k, &(row, is_completion)) in completion.iter().enumerate() {
        if is_completion {
            select[row * n + k] = 1.0;
        }
    }
    let counts: Vec<f32> = (0..r).map(|row| select[row * n..(row + 1) * n].iter().sum()).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [r, t]), device);
    let picked = Tensor::<1, Int>::from_data(TensorData::new(picked, [n]), device);
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [n, 1]), device);
    let select = Tensor::<2>::from_data(TensorData::new(select, [r, n]), device);
    let count = Tensor::<1>::from_data(TensorData::new(counts, [r]), device);
    let hidden = model.forward(ids, &mut KvCache::default(), None, adapters);
    let [_, _, width] = hidden.dims();
    let hidden = hidden.reshape([r * t, width]).select(0, picked);
    let token_logp = log_softmax(model.logits(hidden), 1).gather(1, targets); // [n, 1]
    let sum = select.matmul(token_logp.clone()).reshape([r]);
    let mean = sum.clone() / count;
    let chosen_nll = (nll_rows > 0).then(|| {
        let weights: Vec<f32> = in_nll.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect();
        let tokens = weights.iter().sum::<f32>();
        let weights = Tensor::<2>::from_data(TensorData::new(weights, [1, n]), device);
        weights.matmul(token_logp).reshape([1]).neg().div_scalar(tokens)
    });
    SequenceLogps { sum, mean, chosen_nll }
}

/// AdamW on the trainable parameters, with the config's weight decay and norm clipping.
fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(config.max_grad_norm as f32)))
        .init()
}

/// A LoRA policy being tuned with one method, its optimiser, and the cached reference log-probs.
pub struct Trainer {
    model: Llama,
    optim: ModuleOptimizer,
    method: Method,
    config: TrainConfig,
    reference: HashMap<u64, (f32, f32)>,
    step: usize,
    device: Device,
}

impl Trainer {
    /// A policy from `base` (any device) with fresh adapters, on `device`'s autodiff twin.
    pub fn new(base: &Llama, method: Method, config: TrainConfig, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let model = base.clone().train().with_lora(&config.lora, config.seed);
        let optim = optimizer(&config);
        Self { model, optim, method, config, reference: HashMap::new(), step: 0, device }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    pub fn steps(&self) -> usize {
        self.step
    }

    /// The policy without autodiff, for generation and evaluation.
    pub fn policy(&self) -> Llama {
        self.model.valid()
    }

    /// Reference (adapters off) summed log-probs of each pair's chosen and rejected completion,
    /// computed once per pair key.
    async fn reference(&mut self, pairs: &[PairTokens]) -> Result<Vec<(f32, f32)>, TrainError> {
        let missing: Vec<PairTokens> = pairs.iter().filter(|p| !self.reference.contains_key(&p.key)).cloned().collect();
        if !missing.is_empty() {
            let model = self.model.valid();
            let logps = sequence_logps(&model, &missing, Adapters::Off, false, &self.device.clone().inner());
            let sums = read(logps.sum).await?;
            for (i, pair) in missing.iter().enumerate() {
                self.reference.insert(pair.key, (sums[i], sums[missing.len() + i]));
            }
        }
        Ok(pairs.iter().map(|p| self.reference[&p.key]).collect())
    }

    /// The sum of every adapted weight (W₀ + ΔW): finite exactly when no adapter went non-finite.
    fn adapted_checksum(&self) -> Tensor<1> {
        let targets = &self.config.lora.targets;
        let mut total: Option<Tensor<1>> = None;
        for block in &self.model.blocks {
            for target in targets {
                let proj = match target {
                    Target::Q => &block.attn.q,
                    Target::K => &block.attn.k,
                    Target::V => &block.attn.v,
                    Target::O => &block.attn.o,
                    Target::Gate => &block.mlp.gate,
                    Target::Up => &block.mlp.up,
                    Target::Down => &block.mlp.down,
                };
                let s = proj.weight.val().sum().detach();
                total = Some(match total {
                    Some(t) => t + s,
                    None => s,
                });
            }
        }
        total.unwrap_or_else(|| Tensor::zeros([1], &self.device))
    }

    /// The method's loss on `pairs` with the current policy (autodiff graph attached), after
    /// checking the batch.
    pub async fn loss(&mut self, pairs: &[PairTokens]) -> Result<PreferenceTerms, TrainError> {
        if pairs.is_empty() {
            return Err(TrainError::NoPairs);
        }
        if let Some(p) = pairs.iter().find(|p| p.chosen.is_empty() || p.rejected.is_empty()) {
            return Err(TrainError::EmptyCompletion(p.key));
        }
        let n = pairs.len();
        let weights: Vec<f32> = pairs.iter().map(|p| if self.method.weighted() { p.weight as f32 } else { 1.0 }).collect();
        let weight = Tensor::<1>::from_data(TensorData::new(weights, [n]), &self.device);
        let reference = if self.method.odds_ratio() { Vec::new() } else { self.reference(pairs).await? };
        let logps = sequence_logps(&self.model, pairs, Adapters::On, self.method.odds_ratio(), &self.device);
        Ok(if self.method.odds_ratio() {
            let (mc, mr) = (logps.mean.clone().narrow(0, 0, n), logps.mean.narrow(0, n, n));
            dorpo_loss(mc, mr, weight, logps.chosen_nll.expect("asked for above"), self.config.lambda)
        } else {
            let column = |first: bool| -> Vec<f32> { reference.iter().map(|r| if first { r.0 } else { r.1 }).collect() };
            let rc = Tensor::<1>::from_data(TensorData::new(column(true), [n]), &self.device);
            let rr = Tensor::<1>::from_data(TensorData::new(column(false), [n]), &self.device);
            let (chosen, rejected) = (logps.sum.clone().narrow(0, 0, n), logps.sum.narrow(0, n, n));
            ddpo_loss(chosen, rejected, rc, rr, weight, self.config.beta)
        })
    }

    /// The LoRA adapters (only they train) as safetensors bytes.
    pub fn save_adapters(&self) -> Result<Vec<u8>, TrainError> {
        let mut store = SafetensorsStore::from_bytes(None).with_regex(ADAPTER_PATHS);
        self.model.save_into(&mut store).map_err(|e| TrainError::Adapters(e.to_string()))?;
        store.get_bytes().map_err(|e| TrainError::Adapters(e.to_string()))
    }

    /// Loads adapters saved by [`Trainer::save_adapters`] (same LoRA shape); the optimiser
    /// state starts afresh.
    pub fn load_adapters(&mut self, bytes: Vec<u8>) -> Result<(), TrainError> {
        let mut store = SafetensorsStore::from_bytes(Some(bytes)).with_regex(ADAPTER_PATHS).allow_partial(true);
        let result = self.model.load_from(&mut store).map_err(|e| TrainError::Adapters(e.to_string()))?;
        if let Some((name, _)) = result.missing.iter().find(|(name, _)| name.contains(".lora.")) {
            return Err(TrainError::Adapters(format!("the file lacks {name} (another LoRA rank or targets?)")));
        }
        if let Some(error) = result.errors.first() {
            return Err(TrainError::Adapters(format!("{error:?}")));
        }
        if result.applied.is_empty() {
            return Err(TrainError::Adapters("the file holds no LoRA adapters".into()));
        }
        self.optim = optimizer(&self.config);
        Ok(())
    }

    /// The policy as trained (autodiff device), e.g. to read gradients by parameter id.
    pub fn model(&self) -> &Llama {
        &self.model
    }

    /// Replaces the policy by `f(policy)` (gradient checks perturb single adapter entries).
    pub fn map_model(&mut self, f: impl FnOnce(Llama) -> Llama) {
        self.model = f(self.model.clone());
    }

    /// One optimisation step on `pairs`.
    pub async fn step(&mut self, pairs: &[PairTokens]) -> Result<StepOutcome, TrainError> {
        let terms = self.loss(pairs).await?;
        let loss_value = read(terms.loss.clone().detach()).await?[0] as f64;
        if !loss_value.is_finite() {
            return Ok(StepOutcome::Rejected(format!("the loss is {loss_value}; the step was skipped")));
        }
        let chosen_rewards = read(terms.chosen_rewards).await?;
        let rejected_rewards = read(terms.rejected_rewards).await?;

        let (model_before, optim_before) = (self.model.clone(), self.optim.clone());
        let grads = GradientsParams::from_grads(terms.loss.backward(), &self.model);
        self.model = self.optim.step(self.config.learning_rate, self.model.clone(), grads);
        let checksum = read(self.adapted_checksum()).await?[0];
        if !checksum.is_finite() {
            self.model = model_before;
            self.optim = optim_before;
            return Ok(StepOutcome::Rejected("a gradient was not finite; the adapters and optimiser were restored".into()));
        }
        self.step += 1;
        let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let margins: Vec<f32> = chosen_rewards.iter().zip(&rejected_rewards).map(|(c, r)| c - r).collect();
        let accuracy: Vec<f32> = margins.iter().map(|&m| if m > 0.0 { 1.0 } else { 0.0 }).collect();
        Ok(StepOutcome::Applied(StepMetrics {
            step: self.step,
            loss: loss_value,
            rewards_chosen: mean(&chosen_rewards),
            rewards_rejected: mean(&rejected_rewards),
            rewards_margins: mean(&margins),
            rewards_accuracies: mean(&accuracy),
            per_pair: chosen_rewards.iter().zip(&rejected_rewards).map(|(&c, &r)| (c as f64, r as f64)).collect(),
        }))
    }
}
