//! Preference tuning on a tiny random llama (Flex CPU): the LoRA gradients of the DDPO and
//! DORPO losses agree with central finite differences, steps lower the loss on a fixed batch,
//! and a non-finite update is rejected with the adapters restored.

use std::sync::Mutex;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use deviate::engine::train::{Method, StepOutcome, TrainConfig, Trainer};
use deviate::model::llama::{Llama, LoraConfig, Target};

mod tiny;
use tiny::{pairs, tiny};


/// The device RNG is shared by the test threads: a model is built (the RNG seeded, then drawn
/// from) under this lock, so every run of a test sees the same random weights and adapters.
static DEVICE_RNG: Mutex<()> = Mutex::new(());

fn seeded<T>(build: impl FnOnce() -> T) -> T {
    let _rng = DEVICE_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    build()
}

fn random_base(seed: u64) -> Llama {
    seeded(|| Llama::random(&tiny(), seed, &Device::flex()))
}

fn trainer(method: Method, learning_rate: f64) -> Trainer {
    trainer_on(&random_base(3), method, learning_rate)
}

fn trainer_on(base: &Llama, method: Method, learning_rate: f64) -> Trainer {
    let lora = LoraConfig { rank: 2, alpha: 4.0, targets: vec![Target::Q, Target::V, Target::Down], ..Default::default() };
    seeded(|| Trainer::new(base, method, TrainConfig { lora, learning_rate, seed: 5, ..Default::default() }, &Device::flex()))
}

/// Ids and shapes of the trainable parameters (the adapters' factors).
#[derive(Default)]
struct Trainable(Vec<(ParamId, Vec<usize>)>);

impl ModuleVisitor for Trainable {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.val().is_require_grad() {
            self.0.push((param.id, param.val().dims().to_vec()));
        }
    }
}

/// Adds `delta` to entry `index` (flattened) of the parameter `id`.
struct Nudge {
    id: ParamId,
    index: usize,
    delta: f32,
}

impl ModuleMapper for Nudge {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if param.id != self.id {
            return param;
        }
        param.map(|t| {
            let shape = t.shape();
            let mut values: Vec<f32> = t.clone().into_data().try_into_vec().unwrap();
            values[self.index] += self.delta;
            Tensor::from_data(TensorData::new(values, shape), &t.device()).require_grad()
        })
    }
}

fn loss_value(trainer: &mut Trainer) -> f64 {
    let terms = pollster::block_on(trainer.loss(&pairs())).unwrap();
    terms.loss.into_data().try_into_vec::<f32>().unwrap()[0] as f64
}

fn gradient_check(method: Method) {
    let mut trainer = trainer(method, 1e-2);
    // Move off B = 0 first, so both factors have non-zero gradients.
    assert!(matches!(pollster::block_on(trainer.step(&pairs())).unwrap(), StepOutcome::Applied(_)));
    let mut trainable = Trainable::default();
    trainer.model().visit(&mut trainable);
    assert_eq!(trainable.0.len(), 2 * 3 * 2, "A and B for q, v, down in 2 blocks");

    let terms = pollster::block_on(trainer.loss(&pairs())).unwrap();
    let grads = GradientsParams::from_grads(terms.loss.backward(), trainer.model());
    let (mut checked, mut largest) = (0, 0.0f64);
    for (id, dims) in trainable.0.iter().step_by(3) {
        let grad: Vec<f32> = grads.get::<2>(*id).expect("a gradient per adapter").into_data().try_into_vec().unwrap();
        for index in [0, dims.iter().product::<usize>() - 1] {
            let eps = 1e-2f32;
            let at = |delta: f32, trainer: &mut Trainer| {
                trainer.map_model(|m| m.map(&mut Nudge { id: *id, index, delta }));
                let value = loss_value(trainer);
                trainer.map_model(|m| m.map(&mut Nudge { id: *id, index, delta: -delta }));
                value
            };
            let numeric = (at(eps, &mut trainer) - at(-eps, &mut trainer)) / (2.0 * eps as f64);
            let analytic = grad[index] as f64;
            assert!(
                (numeric - analytic).abs() <= 2e-2 * analytic.abs().max(1e-3) + 2e-4,
                "{method:?} param {id} [{index}]: finite difference {numeric:.6}, autodiff {analytic:.6}"
            );
            checked += 1;
            largest = largest.max(analytic.abs());
        }
    }
    assert!(checked >= 8);
    // The check means something only if some gradients are well above the tolerance.
    assert!(largest > 1e-2, "largest gradient checked {largest}");
    eprintln!("{method:?}: {checked} entries checked, largest |gradient| {largest:.4}");
}

#[test]
fn ddpo_lora_gradients_match_finite_differences() {
    gradient_check(Method::Ddpo);
}

#[test]
fn dorpo_lora_gradients_match_finite_differences() {
    gradient_check(Method::Dorpo);
}

#[test]
fn steps_lower_the_loss_and_report_trl_metrics() {
    for method in Method::ALL {
        let mut trainer = trainer(method, 2e-2);
        let mut losses = Vec::new();
        for _ in 0..8 {
            match pollster::block_on(trainer.step(&pairs())).unwrap() {
                StepOutcome::Applied(m) => {
                    assert!((0.0..=1.0).contains(&m.rewards_accuracies));
                    assert!((m.rewards_margins - (m.rewards_chosen - m.rewards_rejected)).abs() < 1e-6);
                    losses.push(m.loss);
                }
                StepOutcome::Rejected(why) => panic!("{method:?}: {why}"),
            }
        }
        assert_eq!(trainer.steps(), 8);
        assert!(losses[7] < losses[0], "{method:?}: losses {losses:?}");
    }
}

#[test]
fn a_non_finite_update_is_rejected_and_nothing_changes() {
    let mut trainer = trainer(Method::Ddpo, f64::NAN);
    let before = loss_value(&mut trainer);
    match pollster::block_on(trainer.step(&pairs())).unwrap() {
        StepOutcome::Rejected(why) => assert!(why.contains("not finite"), "{why}"),
        StepOutcome::Applied(m) => panic!("a NaN learning rate was applied: {m:?}"),
    }
    assert_eq!(trainer.steps(), 0);
    assert_eq!(loss_value(&mut trainer), before);
}

#[test]
fn adapters_round_trip_through_safetensors() {
    let base = random_base(3);
    let mut trained = trainer_on(&base, Method::Ddpo, 2e-2);
    for _ in 0..3 {
        pollster::block_on(trained.step(&pairs())).unwrap();
    }
    let bytes = trained.save_adapters().unwrap();
    let names = safetensor_names(&bytes);
    assert_eq!(names.len(), 2 * 3 * 2, "A and B of q, v, down in 2 blocks: {names:?}");
    assert!(names.iter().all(|n| n.contains("lora")), "{names:?}");

    let mut fresh = trainer_on(&base, Method::Ddpo, 2e-2);
    let (want, before) = (loss_value(&mut trained), loss_value(&mut fresh));
    assert_ne!(want, before);
    fresh.load_adapters(bytes).unwrap();
    assert!((loss_value(&mut fresh) - want).abs() < 1e-6);

    let mut other_rank = Trainer::new(
        &base,
        Method::Ddpo,
        TrainConfig { lora: LoraConfig { rank: 4, ..Default::default() }, ..Default::default() },
        &Device::flex(),
    );
    assert!(other_rank.load_adapters(trained.save_adapters().unwrap()).is_err());
}

/// Tensor names in a safetensors file (8-byte header length, then a JSON header).
fn safetensor_names(bytes: &[u8]) -> Vec<String> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header.keys().filter(|k| *k != "__metadata__").cloned().collect()
}

/// log p(token | prefix) for every completion token, one forward pass per prefix with a fresh
/// cache and a float64 log-softmax on the host: no batching, padding or position selection.
fn logps_one_prefix_at_a_time(model: &Llama, prompt: &[u32], completion: &[u32]) -> f64 {
    use burn::tensor::Int;
    use deviate::model::llama::{Adapters, KvCache};
    let device = Device::flex();
    let seq: Vec<i64> = prompt.iter().chain(completion).map(|&id| i64::from(id)).collect();
    (prompt.len()..seq.len())
        .map(|end| {
            let ids = Tensor::<2, Int>::from_data(TensorData::new(seq[..end].to_vec(), [1, end]), &device);
            let hidden = model.forward(ids, &mut KvCache::default(), None, Adapters::Off);
            let [_, _, width] = hidden.dims();
            let last = hidden.narrow(1, end - 1, 1).reshape([1, width]);
            let row: Vec<f32> = model.logits(last).into_data().try_to_vec::<f32>().unwrap();
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
            let log_z = max + row.iter().map(|&x| (f64::from(x) - max).exp()).sum::<f64>().ln();
            f64::from(row[seq[end] as usize]) - log_z
        })
        .sum()
}

#[test]
fn batched_completion_logps_equal_a_per_token_loop() {
    use deviate::engine::logps::completion_logp_sums;
    use deviate::model::llama::Adapters;
    let model = random_base(11);
    // Rows of different prompt and completion lengths, so the batch pads and selects positions.
    let rows: Vec<(Vec<u32>, Vec<u32>)> = pairs()
        .into_iter()
        .flat_map(|p| [(p.prompt.clone(), p.chosen), (p.prompt, p.rejected)])
        .chain([(vec![30, 31, 32, 33, 34, 35], vec![2]), (vec![7], vec![9, 10, 11, 12, 13, 14, 15, 2])])
        .collect();
    let batched = pollster::block_on(completion_logp_sums(&model, &rows, Adapters::Off, &Device::flex())).unwrap();
    for ((prompt, completion), got) in rows.iter().zip(batched) {
        let want = logps_one_prefix_at_a_time(&model, prompt, completion);
        assert!((f64::from(got) - want).abs() < 1e-4 * want.abs().max(1.0), "{prompt:?} → {completion:?}: {got} vs {want}");
    }
}

#[test]
fn ddpo_first_step_loss_is_the_mean_weight_times_ln2() {
    // Before the first update the policy is the reference (LoRA's B starts at 0), so every
    // pair's DPO loss is −log σ(0) = ln 2 and DDPO's is its weight times that.
    let mut p = pairs();
    p[0].weight = 1.7;
    p[1].weight = 0.1;
    for (method, expected) in [(Method::Ddpo, 0.9 * std::f64::consts::LN_2), (Method::Dpo, std::f64::consts::LN_2)] {
        match pollster::block_on(trainer(method, 1e-3).step(&p)).unwrap() {
            StepOutcome::Applied(m) => assert!((m.loss - expected).abs() < 1e-6, "{method:?}: {} vs {expected}", m.loss),
            StepOutcome::Rejected(why) => panic!("{method:?}: {why}"),
        }
    }
}

#[test]
fn one_pair_passes_give_the_update_of_one_whole_batch_pass() {
    // On Flex a step reads one pair at a time and sums the passes' gradients; it must land
    // where one pass over both pairs lands, for every method (DORPO's NLL spans the pairs).
    let base = random_base(3);
    for method in Method::ALL {
        let (mut by_pair, mut whole) = (trainer_on(&base, method, 2e-2), trainer_on(&base, method, 2e-2));
        by_pair.set_pairs_per_pass(1);
        whole.set_pairs_per_pass(usize::MAX);
        let before = loss_value(&mut whole);
        for _ in 0..2 {
            let metrics = |t: &mut Trainer| match pollster::block_on(t.step(&pairs())).unwrap() {
                StepOutcome::Applied(m) => m,
                StepOutcome::Rejected(why) => panic!("{method:?}: {why}"),
            };
            let (a, b) = (metrics(&mut by_pair), metrics(&mut whole));
            assert!((a.loss - b.loss).abs() < 1e-6, "{method:?}: loss {} vs {}", a.loss, b.loss);
            for (x, y) in a.per_pair.iter().zip(&b.per_pair) {
                assert!((x.0 - y.0).abs() < 1e-6 && (x.1 - y.1).abs() < 1e-6, "{method:?}: rewards {x:?} vs {y:?}");
            }
        }
        let (after_a, after_b) = (loss_value(&mut by_pair), loss_value(&mut whole));
        assert!((after_a - after_b).abs() < 1e-6, "{method:?}: after two steps {after_a} vs {after_b}");
        assert!((after_b - before).abs() > 1e-3, "{method:?}: the steps changed nothing ({before} → {after_b})");
    }
}
