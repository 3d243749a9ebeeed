//! The trainer's defaults are TRL + peft's (shared/DESIGN.md, "Training as TRL + peft train it"):
//! LoRA's A drawn as peft draws it, AdamW with torch's ε and moments, and `max_grad_norm` on the
//! global norm of every trainable gradient. Two steps on a tiny llama are checked against the
//! same two steps computed here by hand (f64), for each clipping and another ε and β pair.

use std::sync::Mutex;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use deviate::engine::train::{Clipping, Method, StepOutcome, TrainConfig, Trainer};
use deviate::model::llama::{Llama, LlamaConfig, LoraConfig, LoraInit, Target};

mod tiny;
use tiny::{pairs, tiny};

/// The device RNG is shared by the test threads: models are built under this lock.
static DEVICE_RNG: Mutex<()> = Mutex::new(());

fn seeded<T>(build: impl FnOnce() -> T) -> T {
    let _rng = DEVICE_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    build()
}

/// Every trainable parameter (the adapters' factors): id, and values in f64.
#[derive(Default)]
struct Factors(Vec<(ParamId, Vec<f64>)>);

impl ModuleVisitor for Factors {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.val().is_require_grad() {
            let values = param.val().into_data().convert::<f64>().try_to_vec::<f64>().unwrap();
            self.0.push((param.id, values));
        }
    }
}

fn factors(model: &Llama) -> Factors {
    let mut f = Factors::default();
    model.visit(&mut f);
    f
}

#[test]
fn the_defaults_are_trl_and_peft_defaults() {
    let c = TrainConfig::default();
    assert_eq!((c.adam_beta1, c.adam_beta2, c.adam_epsilon, c.weight_decay), (0.9, 0.999, 1e-8, 0.0));
    assert_eq!((c.max_grad_norm, c.clipping), (1.0, Clipping::Global));
    assert_eq!((c.beta, c.lambda), (0.1, 0.25));
    let l = c.lora;
    assert_eq!((l.rank, l.alpha, l.targets, l.init), (8, 16.0, vec![Target::Q, Target::V], LoraInit::KaimingUniform));
}

/// A's entries of every adapted projection of a 2-block llama 576 wide (SmolLM2's width), rank
/// 64: 147,456 draws; B's entries.
fn drawn(init: LoraInit) -> (Vec<f64>, Vec<f64>) {
    let config = LlamaConfig { hidden: 576, heads: 9, kv_heads: 3, ffn: 64, ..tiny() };
    let lora = LoraConfig { rank: 64, alpha: 128.0, targets: vec![Target::Q, Target::Up], init };
    let model = seeded(|| Llama::random(&config, 1, &Device::flex()).with_lora(&lora, 7));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for block in &model.blocks {
        for proj in [&block.attn.q, &block.mlp.up] {
            let adapter = proj.weight.adapter().expect("an adapter on q and up");
            assert_eq!(adapter.a.dims(), [576, 64], "A is [in, r]");
            assert_eq!(adapter.scale, 2.0, "α / r");
            a.extend(adapter.a.val().into_data().convert::<f64>().try_to_vec::<f64>().unwrap());
            b.extend(adapter.b.val().into_data().convert::<f64>().try_to_vec::<f64>().unwrap());
        }
    }
    (a, b)
}

fn mean_and_std(x: &[f64]) -> (f64, f64) {
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    (mean, (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64).sqrt())
}

#[test]
fn lora_a_is_uniform_within_one_over_root_in_as_peft_draws_it() {
    let (a, b) = drawn(LoraInit::KaimingUniform);
    let bound = 1.0 / 576f64.sqrt();
    let (mean, std) = mean_and_std(&a);
    let largest = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(largest <= bound * (1.0 + 1e-6), "|A| reaches {largest}, bound {bound}");
    assert!(largest > 0.999 * bound, "the draws should reach the bound {bound}: largest {largest}");
    // U(−b, b): mean 0 (its standard error here is about 1.1e-4), std b/√3.
    assert!(mean.abs() < 5e-4, "mean {mean}");
    assert!((std / (bound / 3f64.sqrt()) - 1.0).abs() < 0.01, "std {std}, expected {}", bound / 3f64.sqrt());
    // A fraction of the draws in each tenth of [−b, b] near 1/10: uniform, not bell-shaped.
    for k in 0..10 {
        let (lo, hi) = (-bound + k as f64 * bound / 5.0, -bound + (k + 1) as f64 * bound / 5.0);
        let share = a.iter().filter(|&&v| v >= lo && v < hi).count() as f64 / a.len() as f64;
        assert!((share - 0.1).abs() < 0.005, "tenth {k}: {share}");
    }
    assert!(b.iter().all(|&v| v == 0.0), "B starts at 0");
}

#[test]
fn format_1_links_keep_burns_normal_draws() {
    let (a, b) = drawn(LoraInit::Normal);
    let (mean, std) = mean_and_std(&a);
    assert!(mean.abs() < 2e-3, "mean {mean}");
    assert!((std / (1.0 / 64.0) - 1.0).abs() < 0.01, "std {std}, expected 1/r");
    assert!(b.iter().all(|&v| v == 0.0));
}

/// One trainer on a tiny llama with two adapted projections (q in both blocks), every pair in
/// one pass (the gradients below are that pass's).
fn trainer(config: &TrainConfig) -> Trainer {
    let base = seeded(|| Llama::random(&tiny(), 3, &Device::flex()));
    let mut t = seeded(|| Trainer::new(&base, Method::Ddpo, config.clone(), &Device::flex()));
    t.set_pairs_per_pass(usize::MAX);
    t
}

/// The gradients of the current loss, per trainable parameter, in `order`.
fn gradients(t: &mut Trainer, order: &[ParamId]) -> Vec<Vec<f64>> {
    let terms = pollster::block_on(t.loss(&pairs())).unwrap();
    let grads = GradientsParams::from_grads(terms.loss.backward(), t.model());
    order.iter().map(|&id| grads.get::<2>(id).expect("a gradient").into_data().convert::<f64>().try_to_vec::<f64>().unwrap()).collect()
}

fn norm(g: &[Vec<f64>]) -> f64 {
    g.iter().flatten().map(|x| x * x).sum::<f64>().sqrt()
}

/// `g` clipped as `clipping` says to `max_norm`: globally, coef = min(1, c / (‖g‖ + 1e-6)) for
/// every tensor (torch's `clip_grad_norm_`); per tensor, each tensor by its own norm (burn's
/// `GradientClipping::Norm`: coef = c / ‖gᵢ‖ where ‖gᵢ‖ > c).
fn clip(g: &[Vec<f64>], clipping: Clipping, max_norm: f64) -> Vec<Vec<f64>> {
    let scale = |t: &Vec<f64>, k: f64| t.iter().map(|x| x * k).collect::<Vec<f64>>();
    match clipping {
        Clipping::Global => {
            let k = (max_norm / (norm(g) + 1e-6)).min(1.0);
            g.iter().map(|t| scale(t, k)).collect()
        }
        Clipping::PerTensor => g
            .iter()
            .map(|t| {
                let n = norm(std::slice::from_ref(t));
                scale(t, if n > max_norm { max_norm / n } else { 1.0 })
            })
            .collect(),
    }
}

/// Two AdamW steps by hand from θ₀ with raw gradients g₁ (at θ₀) and g₂ (at θ₁), as torch's
/// AdamW: m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², θ −= lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
/// (weight decay 0). Returns θ after step `t` given the gradients so far.
struct HandAdam {
    config: TrainConfig,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
    t: i32,
}

impl HandAdam {
    fn new(config: &TrainConfig, shapes: &[Vec<f64>]) -> Self {
        let zeros: Vec<Vec<f64>> = shapes.iter().map(|t| vec![0.0; t.len()]).collect();
        Self { config: config.clone(), m: zeros.clone(), v: zeros, t: 0 }
    }

    fn step(&mut self, theta: &[Vec<f64>], raw: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let c = &self.config;
        let g = clip(raw, c.clipping, c.max_grad_norm);
        self.t += 1;
        // burn computes the moments in f32 and its bias corrections as 1 − β^t in f32.
        let (b1, b2) = (c.adam_beta1 as f32 as f64, c.adam_beta2 as f32 as f64);
        let (c1, c2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        let mut out = theta.to_vec();
        for (i, tensor) in out.iter_mut().enumerate() {
            for (j, x) in tensor.iter_mut().enumerate() {
                self.m[i][j] = b1 * self.m[i][j] + (1.0 - b1) * g[i][j];
                self.v[i][j] = b2 * self.v[i][j] + (1.0 - b2) * g[i][j] * g[i][j];
                *x -= c.learning_rate * (self.m[i][j] / c1) / ((self.v[i][j] / c2).sqrt() + c.adam_epsilon);
            }
        }
        out
    }
}

/// Largest |x − y| over every entry, relative to the largest |x − x₀| (the size of the updates).
fn update_error(x: &[Vec<f64>], y: &[Vec<f64>], x0: &[Vec<f64>]) -> f64 {
    let flat = |a: &[Vec<f64>], b: &[Vec<f64>]| a.iter().flatten().zip(b.iter().flatten()).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
    flat(x, y) / flat(x, x0)
}

/// Runs two steps of a trainer with `config` and the same two steps by hand; returns the
/// trainer's θ₂, the hand's θ₂, θ₀, the raw gradients' norms and the norms the steps reported.
fn two_steps(config: &TrainConfig) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<Vec<f64>>, [f64; 2], [f64; 2]) {
    let mut t = trainer(config);
    let start = factors(t.model());
    let ids: Vec<ParamId> = start.0.iter().map(|(id, _)| *id).collect();
    let theta0: Vec<Vec<f64>> = start.0.into_iter().map(|(_, v)| v).collect();
    let mut hand = HandAdam::new(config, &theta0);
    let (mut theta, mut raw_norms, mut reported) = (theta0.clone(), [0.0; 2], [0.0; 2]);
    for k in 0..2 {
        let g = gradients(&mut t, &ids);
        raw_norms[k] = norm(&g);
        theta = hand.step(&theta, &g);
        match pollster::block_on(t.step(&pairs())).unwrap() {
            StepOutcome::Applied(m) => reported[k] = m.grad_norm,
            StepOutcome::Rejected(why) => panic!("{why}"),
        }
    }
    let got: Vec<Vec<f64>> = factors(t.model()).0.into_iter().map(|(_, v)| v).collect();
    (got, theta, theta0, raw_norms, reported)
}

#[test]
fn global_clipping_and_adamw_match_a_hand_computation() {
    // q in both blocks: two adapted projections, four factors. A norm limit below every
    // factor's gradient norm, so per-tensor and global clipping differ.
    let lora = LoraConfig { rank: 2, alpha: 4.0, targets: vec![Target::Q], ..LoraConfig::default() };
    let global = TrainConfig { lora, learning_rate: 2e-2, max_grad_norm: 1e-5, seed: 5, ..TrainConfig::default() };
    let per_tensor = TrainConfig { clipping: Clipping::PerTensor, ..global.clone() };
    let moments = TrainConfig { adam_beta1: 0.5, adam_beta2: 0.9, adam_epsilon: 1e-4, ..global.clone() };

    let (got, want, theta0, raw, reported) = two_steps(&global);
    assert_eq!(got.len(), 4, "A and B of q in 2 blocks");
    for k in 0..2 {
        assert!((reported[k] / raw[k] - 1.0).abs() < 1e-4, "step {}: reported norm {} vs {}", k + 1, reported[k], raw[k]);
        assert!(raw[k] > 10.0 * global.max_grad_norm, "step {}: the limit must clip ({})", k + 1, raw[k]);
    }
    let error = update_error(&got, &want, &theta0);
    eprintln!("global clipping: raw norms {raw:?}, {error:.2e} of the update from the hand computation");
    assert!(error < 1e-4, "global clipping: {error} of the update away from the hand computation");

    // Per-tensor clipping, and other moments and ε, each match their own hand computation and
    // land measurably elsewhere: the check tells them apart.
    for (name, config) in [("per tensor", &per_tensor), ("β 0.5/0.9, ε 1e-4", &moments)] {
        let (got_other, want_other, theta0_other, _, _) = two_steps(config);
        assert_eq!(theta0_other, theta0, "the same start");
        let own = update_error(&got_other, &want_other, &theta0);
        assert!(own < 1e-4, "{name}: {own} of the update away from its hand computation");
        let apart = update_error(&want, &want_other, &theta0);
        eprintln!("{name}: {own:.2e} of the update from its hand computation, {apart:.2e} from the defaults'");
        assert!(apart > 1e-2, "{name}: lands only {apart} of the update away from the defaults");
    }
}
