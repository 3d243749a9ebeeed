//! One preference-tuning step on SmolLM2 with LoRA: policy log-probs (adapters on, autodiff),
//! reference log-probs (adapters off, read once per sequence: [`ReferenceLogps`]), the method's loss,
//! backward, AdamW on the adapters only with gradient-norm clipping. A non-finite loss or update
//! is rejected: the adapters and the optimiser state stay as they were.

use std::str::FromStr;

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use crate::engine::batch::{PairTokens, TrainError};
use crate::engine::logps::{completion_logp_sums, nll_tokens, read, sequence_logps};
pub use crate::engine::reference::ReferenceLogps;
use crate::engine::losses::{PreferenceTerms, Share, ddpo_loss, dorpo_loss};
use crate::model::device::is_cpu;
use crate::model::llama::{Adapters, Llama, LoraConfig, LoraInit, Proj, Target};

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

/// Training hyper-parameters. β and λ are the paper's; the optimiser, clipping and LoRA are
/// TRL + peft's (`DPOConfig`/`ORPOConfig` on transformers' `TrainingArguments`, peft's
/// `LoraConfig`), so the same settings move the model as they do there. The learning rate is
/// constant (TRL's `lr_scheduler_type="constant"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// DPO's β (TRL's `beta`, 0.1).
    pub beta: f64,
    /// ORPO's λ (TRL's ORPO `beta`, 0.25 here as in the paper).
    pub lambda: f64,
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay (`weight_decay`, 0 in `TrainingArguments`).
    pub weight_decay: f64,
    /// AdamW's β₁ (`adam_beta1`, 0.9).
    pub adam_beta1: f64,
    /// AdamW's β₂ (`adam_beta2`, 0.999).
    pub adam_beta2: f64,
    /// AdamW's ε (`adam_epsilon`, 1e-8, torch's default; burn's is 1e-5).
    pub adam_epsilon: f64,
    /// Gradients are scaled down to at most this L2 norm (`max_grad_norm`, 1.0), see [`Clipping`].
    pub max_grad_norm: f64,
    pub clipping: Clipping,
    pub lora: LoraConfig,
    /// Seeds the adapters' initialisation (and, in experiments, the pairs).
    pub seed: u64,
}

/// Which norm `max_grad_norm` bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clipping {
    /// The norm of all trainable parameters' gradients together, as torch's
    /// `clip_grad_norm_` (what transformers' Trainer calls): every gradient is multiplied by
    /// min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ = √(Σ over every tensor of Σ g²).
    #[default]
    Global,
    /// Each parameter's gradient on its own (burn 0.22's `GradientClipping::Norm`): what links of
    /// format 1 trained with; kept so they reproduce.
    PerTensor,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            lambda: 0.25,
            learning_rate: 5e-4,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            max_grad_norm: 1.0,
            clipping: Clipping::Global,
            lora: LoraConfig::default(),
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// The trainer of share links of format 1 (burn 0.22's defaults): A ~ N(0, 1/r), AdamW ε
    /// 1e-5, clipping per tensor.
    pub fn format_1() -> Self {
        let lora = LoraConfig { init: LoraInit::Normal, ..LoraConfig::default() };
        Self { adam_epsilon: 1e-5, clipping: Clipping::PerTensor, lora, ..Self::default() }
    }
}

/// TRL's metrics of one step (means over the batch's pairs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    #[serde(with = "crate::core::float")]
    pub loss: f64,
    #[serde(rename = "rewards/chosen", with = "crate::core::float")]
    pub rewards_chosen: f64,
    #[serde(rename = "rewards/rejected", with = "crate::core::float")]
    pub rewards_rejected: f64,
    #[serde(rename = "rewards/margins", with = "crate::core::float")]
    pub rewards_margins: f64,
    #[serde(rename = "rewards/accuracies", with = "crate::core::float")]
    pub rewards_accuracies: f64,
    /// The L2 norm of every trainable gradient together before clipping (TRL's `grad_norm`).
    #[serde(default, with = "crate::core::float")]
    pub grad_norm: f64,
    /// Per pair: (rewards/chosen, rewards/rejected).
    #[serde(with = "crate::core::float::pairs")]
    pub per_pair: Vec<(f64, f64)>,
}

/// What a step did.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    Applied(StepMetrics),
    /// Nothing changed; the reason says what was not finite.
    Rejected(String),
}

/// Snapshot paths of the LoRA factors (burn names the reparameterization `lora`).
const ADAPTER_PATHS: &str = r"\.lora\.";


/// A batch a step can read: some pairs, each with both completions.
fn check(pairs: &[PairTokens]) -> Result<(), TrainError> {
    if pairs.is_empty() {
        return Err(TrainError::NoPairs);
    }
    match pairs.iter().find(|p| p.chosen.is_empty() || p.rejected.is_empty()) {
        Some(p) => Err(TrainError::EmptyCompletion(p.key)),
        None => Ok(()),
    }
}

/// AdamW on the trainable parameters with the config's moments, ε and weight decay. Global
/// clipping happens before the step ([`Trainer::clip`]); per-tensor clipping is burn's, inside it.
fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let per_tensor = (config.clipping == Clipping::PerTensor).then(|| GradientClippingConfig::Norm(config.max_grad_norm as f32));
    AdamWConfig::new()
        .with_beta_1(config.adam_beta1 as f32)
        .with_beta_2(config.adam_beta2 as f32)
        .with_epsilon(config.adam_epsilon as f32)
        .with_weight_decay(config.weight_decay as f32)
        .with_grad_clipping(per_tensor)
        .init()
}

/// Pairs a step reads in one forward and backward pass on `device`. What a pass keeps for its
/// backward pass grows with its rows, and on the CPU (the page's fallback, where that memory is
/// the worker's) it is the largest part of a step's peak: there a step reads one pair at a time
/// and sums the passes' gradients, the same update up to rounding. A GPU pays per kernel
/// launch instead, so it reads the whole batch at once.
fn pairs_per_pass(device: &Device) -> usize {
    if is_cpu(device) { 1 } else { usize::MAX }
}

/// A LoRA policy being tuned with one method, its optimiser, and the cached reference log-probs.
pub struct Trainer {
    model: Llama,
    optim: ModuleOptimizer,
    method: Method,
    config: TrainConfig,
    reference: ReferenceLogps,
    step: usize,
    pairs_per_pass: usize,
    device: Device,
}

impl Trainer {
    /// A policy from `base` (any device) with fresh adapters, on `device`'s autodiff twin.
    pub fn new(base: &Llama, method: Method, config: TrainConfig, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let model = base.clone().train().with_lora(&config.lora, config.seed);
        let optim = optimizer(&config);
        let pairs_per_pass = pairs_per_pass(&device);
        Self { model, optim, method, config, reference: ReferenceLogps::default(), step: 0, pairs_per_pass, device }
    }

    /// Takes its reference log-probs from `shared` (and adds to it) from now on, as the lanes of
    /// one session do (the cache is by token ids, so any base model's lanes may share one).
    pub fn share_reference(&mut self, shared: &ReferenceLogps) {
        self.reference = shared.clone();
    }

    /// Reads the batch in passes of `pairs` pairs (at least 1) from now on; the update is the
    /// same up to rounding whatever the number.
    pub fn set_pairs_per_pass(&mut self, pairs: usize) {
        self.pairs_per_pass = pairs.max(1);
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

    /// Reference (adapters off) summed log-probs of each pair's chosen and rejected completion;
    /// each sequence is read once, by whichever lane or probe meets it first.
    async fn reference(&mut self, pairs: &[PairTokens]) -> Result<Vec<(f32, f32)>, TrainError> {
        let missing = self.reference.missing(pairs.iter().flat_map(PairTokens::sequences));
        if !missing.is_empty() {
            let sums = completion_logp_sums(&self.model.valid(), &missing, Adapters::Off, &self.device.clone().inner()).await?;
            for ((prompt, completion), sum) in missing.iter().zip(sums) {
                self.reference.insert(prompt, completion, sum);
            }
        }
        let known = |prompt: &[u32], completion: &[u32]| self.reference.get(prompt, completion).expect("read above");
        Ok(pairs.iter().map(|p| (known(&p.prompt, &p.chosen), known(&p.prompt, &p.rejected))).collect())
    }

    /// The adapted projections of every block, in a fixed order.
    fn adapted(&self) -> impl Iterator<Item = &Proj> {
        let targets = &self.config.lora.targets;
        self.model.blocks.iter().flat_map(move |block| {
            targets.iter().map(move |target| match target {
                Target::Q => &block.attn.q,
                Target::K => &block.attn.k,
                Target::V => &block.attn.v,
                Target::O => &block.attn.o,
                Target::Gate => &block.mlp.gate,
                Target::Up => &block.mlp.up,
                Target::Down => &block.mlp.down,
            })
        })
    }

    /// The sum of every adapted weight (W₀ + ΔW; ΔW alone for a compact projection, whose W₀ is in
    /// its blocks): finite exactly when no adapter went non-finite.
    fn adapted_checksum(&self) -> Tensor<1> {
        let sums = self.adapted().map(|proj| proj.weight.val().sum().detach());
        sums.reduce(|a, b| a + b).unwrap_or_else(|| Tensor::zeros([1], &self.device))
    }

    /// ‖g‖, the L2 norm of every trainable gradient together (on the device), and `grads`
    /// clipped to it as [`Clipping::Global`] says: each times min(1, max_grad_norm / (‖g‖ + 1e-6)),
    /// torch's `clip_grad_norm_`. Per-tensor clipping leaves them to the optimiser.
    fn clip(&self, mut grads: GradientsParams) -> (GradientsParams, Tensor<1>) {
        let ids: Vec<_> = self.adapted().filter_map(|p| p.weight.adapter()).flat_map(|lora| [lora.a.id, lora.b.id]).collect();
        let squares = ids.iter().filter_map(|&id| grads.get::<2>(id)).map(|g| g.powi_scalar(2).sum());
        let norm = match squares.reduce(|a, b| a + b) {
            Some(total) => total.sqrt(),
            None => return (grads, Tensor::zeros([1], &self.device.clone().inner())),
        };
        if self.config.clipping == Clipping::Global {
            let coef = norm.clone().add_scalar(1e-6).recip().mul_scalar(self.config.max_grad_norm).clamp_max(1.0).reshape([1, 1]);
            for id in ids {
                if let Some(g) = grads.remove::<2>(id) {
                    grads.register(id, g * coef.clone());
                }
            }
        }
        (grads, norm)
    }

    /// The weight each pair's term gets: its chosen response's for the weighted methods, else 1.
    fn weights(&self, pairs: &[PairTokens]) -> Vec<f32> {
        pairs.iter().map(|p| if self.method.weighted() { p.weight as f32 } else { 1.0 }).collect()
    }

    /// The method's loss on `pairs` with the current policy (autodiff graph attached), after
    /// checking the batch: one pass over the whole batch.
    pub async fn loss(&mut self, pairs: &[PairTokens]) -> Result<PreferenceTerms, TrainError> {
        check(pairs)?;
        self.pass_loss(pairs, Share::whole(&self.weights(pairs)), nll_tokens(pairs)).await
    }

    /// The loss of `pairs`, a part of a batch: their [`Share`] of its loss (`share` and
    /// `nll_tokens` describe the whole batch).
    async fn pass_loss(&mut self, pairs: &[PairTokens], share: Share, nll_tokens: usize) -> Result<PreferenceTerms, TrainError> {
        let n = pairs.len();
        let weight = Tensor::<1>::from_data(TensorData::new(self.weights(pairs), [n]), &self.device);
        let reference = if self.method.odds_ratio() { Vec::new() } else { self.reference(pairs).await? };
        let logps = sequence_logps(&self.model, pairs, Adapters::On, self.method.odds_ratio(), &self.device);
        Ok(if self.method.odds_ratio() {
            let (mc, mr) = (logps.mean.clone().narrow(0, 0, n), logps.mean.narrow(0, n, n));
            let nll = logps.chosen_nll_sum.expect("asked for above").div_scalar(nll_tokens as f64);
            dorpo_loss(mc, mr, weight, nll, self.config.lambda, share)
        } else {
            let column = |first: bool| -> Vec<f32> { reference.iter().map(|r| if first { r.0 } else { r.1 }).collect() };
            let rc = Tensor::<1>::from_data(TensorData::new(column(true), [n]), &self.device);
            let rr = Tensor::<1>::from_data(TensorData::new(column(false), [n]), &self.device);
            let (chosen, rejected) = (logps.sum.clone().narrow(0, 0, n), logps.sum.narrow(0, n, n));
            ddpo_loss(chosen, rejected, rc, rr, weight, self.config.beta, share)
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

    /// One optimisation step on `pairs`, read in passes of [`pairs_per_pass`] pairs whose
    /// gradients add up to the batch's.
    pub async fn step(&mut self, pairs: &[PairTokens]) -> Result<StepOutcome, TrainError> {
        check(pairs)?;
        let (share, tokens) = (Share::whole(&self.weights(pairs)), nll_tokens(pairs));
        let (mut loss_value, mut chosen_rewards, mut rejected_rewards) = (0.0, Vec::new(), Vec::new());
        let mut grads = GradientsAccumulator::<Llama>::new();
        for part in pairs.chunks(self.pairs_per_pass) {
            let terms = self.pass_loss(part, share, tokens).await?;
            // One readback a pass: the loss, then each pair's two rewards.
            let rewards = Tensor::cat(vec![terms.chosen_rewards, terms.rejected_rewards], 0);
            let values = read(Tensor::cat(vec![terms.loss.clone().detach(), rewards], 0)).await?;
            let (loss, rewards) = values.split_first().expect("the loss comes first");
            loss_value += f64::from(*loss);
            if !loss_value.is_finite() {
                return Ok(StepOutcome::Rejected(format!("the loss is {loss_value}; the step was skipped")));
            }
            let (chosen, rejected) = rewards.split_at(part.len());
            chosen_rewards.extend_from_slice(chosen);
            rejected_rewards.extend_from_slice(rejected);
            grads.accumulate(&self.model, GradientsParams::from_grads(terms.loss.backward(), &self.model));
        }

        let (grads, norm) = self.clip(grads.grads());
        let (model_before, optim_before) = (self.model.clone(), self.optim.clone());
        self.model = self.optim.step(self.config.learning_rate, self.model.clone(), grads);
        // One readback: the adapted weights' checksum and the gradient norm before clipping.
        let checksum = Tensor::cat(vec![self.adapted_checksum().inner(), norm], 0);
        let [checksum, grad_norm] = read(checksum).await?[..] else { unreachable!("two values") };
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
            grad_norm: f64::from(grad_norm),
            per_pair: chosen_rewards.iter().zip(&rejected_rewards).map(|(&c, &r)| (c as f64, r as f64)).collect(),
        }))
    }
}
