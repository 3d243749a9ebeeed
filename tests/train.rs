//! Preference tuning on a tiny random llama (Flex CPU): the LoRA gradients of the DDPO and
//! DORPO losses agree with central finite differences, steps lower the loss on a fixed batch,
//! and a non-finite update is rejected with the adapters restored.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use deviate::engine::train::{Method, StepOutcome, TrainConfig, Trainer};
use deviate::model::llama::{Llama, LoraConfig, Target};

mod tiny;
use tiny::{pairs, tiny};


fn trainer(method: Method, learning_rate: f64) -> Trainer {
    trainer_on(&Llama::random(&tiny(), 3, &Device::flex()), method, learning_rate)
}

/// The device RNG is shared by the test threads, so tests that compare two trainers build
/// them on one base model.
fn trainer_on(base: &Llama, method: Method, learning_rate: f64) -> Trainer {
    let lora = LoraConfig { rank: 2, alpha: 4.0, targets: vec![Target::Q, Target::V, Target::Down] };
    Trainer::new(base, method, TrainConfig { lora, learning_rate, seed: 5, ..Default::default() }, &Device::flex())
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
    let base = Llama::random(&tiny(), 3, &Device::flex());
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
