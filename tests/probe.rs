//! The mechanism probe on a tiny random llama (Flex CPU): every gain is 0 while the policy is the
//! reference, the probe's log-probs are the trainer's for the same sequences, and the gains it
//! reports are (log π − log π_ref) / |y|.

use std::sync::{Mutex, PoisonError};

use burn::tensor::Device;
use deviate::core::mechanism::mechanism;
use deviate::engine::probe::{Probe, ProbeItem};
use deviate::engine::train::{Method, ReferenceLogps, StepOutcome, TrainConfig, Trainer};
use deviate::model::llama::{Llama, LoraConfig, Target};

mod tiny;
use tiny::{pairs, tiny};


/// The chosen responses of [`pairs`] and one more of the first prompt, as probe items.
fn items() -> Vec<ProbeItem> {
    let item = |prompt, response, deviation, prompt_ids: &[u32], completion: &[u32]| ProbeItem {
        prompt,
        response,
        score: 5.0,
        deviation,
        prompt_ids: prompt_ids.to_vec(),
        completion: completion.to_vec(),
    };
    vec![
        item(0, 0, 0.6, &[1, 5, 9], &[3, 4, 7, 2]),
        item(1, 0, 0.3, &[6, 2], &[11, 12]),
        item(0, 1, 0.2, &[1, 5, 9], &[20, 21, 22, 23, 24, 2]),
    ]
}

fn config() -> TrainConfig {
    let lora = LoraConfig { rank: 2, alpha: 4.0, targets: vec![Target::Q, Target::V], ..Default::default() };
    TrainConfig { lora, learning_rate: 1e-2, seed: 5, ..Default::default() }
}

/// Runs `draw`, whose random draws are seeded on the CPU device, while no other test of this
/// file draws: the tests run in parallel and share that device's generator.
fn seeded<T>(draw: impl FnOnce() -> T) -> T {
    static DRAWING: Mutex<()> = Mutex::new(());
    let _alone = DRAWING.lock().unwrap_or_else(PoisonError::into_inner);
    draw()
}

fn setup() -> (Llama, Trainer) {
    seeded(|| {
        let device = Device::flex();
        let base = Llama::random(&tiny(), 3, &device);
        let trainer = Trainer::new(&base, Method::Dpo, config(), &device);
        (base, trainer)
    })
}

#[test]
fn gains_are_zero_while_the_policy_is_the_reference() {
    let (base, trainer) = setup();
    let probe = pollster::block_on(Probe::new(&base, items(), &Device::flex())).unwrap();
    let point = pollster::block_on(probe.measure(&trainer.policy(), Some(Method::Dpo), 0, &Device::flex())).unwrap();
    assert_eq!(point.gains.len(), 3);
    assert!(point.gains.iter().all(|g| g.gain == 0.0), "{:?}", point.gains);
    assert_eq!((point.mechanism.slope, point.mechanism.rare_minus_common), (0.0, 0.0));
}

#[test]
fn the_base_models_probe_is_measuring_it_without_the_forward_pass() {
    let (base, _) = setup();
    let device = Device::flex();
    let probe = pollster::block_on(Probe::new(&base, items(), &device)).unwrap();
    let measured = pollster::block_on(probe.measure(&base, None, 0, &device)).unwrap();
    assert_eq!(probe.base(0), measured);
    assert_eq!(probe.base(7).step, 7);
}

/// Two lanes sharing one reference cache step exactly as two lanes with their own; the second
/// finds the batch's reference log-probs already there.
#[test]
fn lanes_sharing_the_reference_step_as_lanes_with_their_own() {
    let run = |shared: bool| {
        let (base, _) = setup();
        let device = Device::flex();
        let config = || TrainConfig { learning_rate: 1e-2, seed: 5, ..Default::default() };
        let mut lanes = seeded(|| [Trainer::new(&base, Method::Dpo, config(), &device), Trainer::new(&base, Method::Ddpo, config(), &device)]);
        let reference = ReferenceLogps::default();
        if shared {
            lanes.iter_mut().for_each(|l| l.share_reference(&reference));
        }
        let mut metrics = Vec::new();
        for _ in 0..2 {
            for lane in &mut lanes {
                let StepOutcome::Applied(m) = pollster::block_on(lane.step(&pairs())).unwrap() else { panic!("rejected") };
                metrics.push(m);
            }
        }
        (metrics, reference.len())
    };
    let (own, untouched) = run(false);
    let (shared, cached) = run(true);
    assert_eq!(own, shared);
    // Each pair's chosen and rejected completion, once.
    assert_eq!((untouched, cached), (0, 2 * pairs().len()));
}

/// A probe lends its reference log-probs to the session's cache: a lane sharing it reads only
/// the sequences the probe did not (here the rejected ones), and steps as a lane that read them
/// all itself, up to the rounding of the probe's shared-prompt pass.
#[test]
fn a_lane_takes_the_probes_reference_log_probs_for_its_chosen_responses() {
    let (base, mut own) = setup();
    let device = Device::flex();
    // The same base and the same adapters (the random draws are seeded on a device all tests share).
    let mut lent = seeded(|| Trainer::new(&base, Method::Dpo, config(), &device));
    lent.load_adapters(own.save_adapters().unwrap()).unwrap();
    let probe = pollster::block_on(Probe::new(&base, items(), &device)).unwrap();
    let reference = ReferenceLogps::default();
    probe.lend_reference(&reference);
    assert_eq!(reference.len(), items().len());
    assert!(probe.items().iter().all(|i| reference.get(&i.prompt_ids, &i.completion).is_some_and(f32::is_finite)));
    lent.share_reference(&reference);
    for _ in 0..2 {
        let StepOutcome::Applied(a) = pollster::block_on(own.step(&pairs())).unwrap() else { panic!("rejected") };
        let StepOutcome::Applied(b) = pollster::block_on(lent.step(&pairs())).unwrap() else { panic!("rejected") };
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-5 * (1.0 + x.abs());
        assert!(close(a.loss, b.loss) && close(a.grad_norm, b.grad_norm), "{a:?}\n{b:?}");
        for (p, q) in a.per_pair.iter().zip(&b.per_pair) {
            assert!(close(p.0, q.0) && close(p.1, q.1), "{a:?}\n{b:?}");
        }
    }
    // The probe's three items and the two rejected completions the lane read itself.
    assert_eq!(reference.len(), items().len() + pairs().len());
}

#[test]
fn probe_log_probs_are_the_trainers() {
    let (base, mut trainer) = setup();
    let device = Device::flex();
    assert!(matches!(pollster::block_on(trainer.step(&pairs())).unwrap(), StepOutcome::Applied(_)));
    let probe = pollster::block_on(Probe::new(&base, items(), &device)).unwrap();
    let point = pollster::block_on(probe.measure(&trainer.policy(), Some(Method::Dpo), 1, &device)).unwrap();
    // The next step's rewards/chosen are β(log π(y_w) − log π_ref(y_w)) under the same policy.
    let StepOutcome::Applied(metrics) = pollster::block_on(trainer.step(&pairs())).unwrap() else { panic!("rejected") };
    let beta = TrainConfig::default().beta;
    for (k, item) in items().iter().take(2).enumerate() {
        let summed = point.gains[k].gain * item.completion.len() as f64;
        let reward = metrics.per_pair[k].0;
        assert!((beta * summed - reward).abs() < 1e-5 * (1.0 + reward.abs()), "pair {k}: probe {}, trainer {reward}", beta * summed);
        assert!(summed.abs() > 1e-6, "the step moved the policy");
    }
    // The mechanism numbers are the core formulas over these gains.
    assert_eq!(point.mechanism, mechanism(&point.gains));
    let logps = pollster::block_on(probe.logps(&trainer.policy(), &device)).unwrap();
    assert_eq!(logps.len(), 3);
}

#[test]
fn a_shared_prompt_gives_the_same_log_probs_as_full_sequences() {
    use deviate::engine::logps::{completion_logp_sums, shared_prompt_logp_sums};
    use deviate::model::llama::Adapters;
    let (_, mut trainer) = setup();
    let device = Device::flex();
    assert!(matches!(pollster::block_on(trainer.step(&pairs())).unwrap(), StepOutcome::Applied(_)));
    let policy = trainer.policy();
    let prompt = vec![1, 5, 9, 14, 3];
    // Different lengths (padding), and a completion that is only its end token.
    let completions = vec![vec![3, 4, 7, 2], vec![2], vec![20, 21, 22, 23, 24, 25, 26, 2], vec![8, 2]];
    let rows: Vec<(Vec<u32>, Vec<u32>)> = completions.iter().map(|c| (prompt.clone(), c.clone())).collect();
    for adapters in [Adapters::On, Adapters::Off] {
        let shared = pollster::block_on(shared_prompt_logp_sums(&policy, &prompt, &completions, adapters, &device)).unwrap();
        let full = pollster::block_on(completion_logp_sums(&policy, &rows, adapters, &device)).unwrap();
        for (k, (a, b)) in shared.iter().zip(&full).enumerate() {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{adapters:?}, completion {k}: shared {a}, full {b}");
        }
        assert_eq!(shared.len(), completions.len());
    }
    let only_ends = pollster::block_on(shared_prompt_logp_sums(&policy, &prompt, &[vec![2], vec![2]], Adapters::On, &device)).unwrap();
    assert_eq!(only_ends[0], only_ends[1]);
    let empty = pollster::block_on(shared_prompt_logp_sums(&policy, &prompt, &[vec![2], vec![]], Adapters::On, &device));
    assert!(matches!(empty, Err(deviate::engine::train::TrainError::EmptyCompletion(1))), "{empty:?}");
    let no_prompt = pollster::block_on(shared_prompt_logp_sums(&policy, &[], &[vec![2]], Adapters::On, &device));
    assert!(matches!(no_prompt, Err(deviate::engine::train::TrainError::EmptyPrompt)), "{no_prompt:?}");
}
