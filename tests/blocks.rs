//! Compact projections (Q4_1 weights kept in their blocks on the CPU, `model::blocks`) compute
//! what dense ones do: the same logits, and training steps — whose backward passes go through
//! the blocks' own product — that land where the dense model's land.

use std::sync::Mutex;

use burn::tensor::{Device, Int, Tensor, TensorData};
use deviate::engine::train::{Method, StepOutcome, TrainConfig, Trainer};
use deviate::model::gguf::Gguf;
use deviate::model::llama::{Adapters, KvCache, Llama, LlamaConfig, LoraConfig, Target};

mod tiny;
use tiny::{gguf::llama_gguf, pairs, tiny};

/// A llama whose rows are whole Q4_1 blocks (widths 64 and 96), so its Q4_1 projections
/// (v and gate) load compact.
fn config() -> LlamaConfig {
    LlamaConfig { hidden: 64, ffn: 96, ..tiny() }
}

fn load() -> Llama {
    let (bytes, _) = llama_gguf(&config());
    let gguf = Gguf::parse(&bytes).unwrap();
    Llama::from_gguf(&gguf, &Device::flex()).unwrap().0
}

/// Logits for a batch of `rows` sequences of `length` tokens: [rows·length, vocab], flat.
fn logits(model: &Llama, rows: usize, length: usize) -> Vec<f32> {
    let device = Device::flex();
    let ids: Vec<i64> = (0..rows * length).map(|i| (i * 7 % 40) as i64).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, length]), &device);
    let hidden = model.forward(ids, &mut KvCache::default(), None, Adapters::Off);
    model.logits(hidden.reshape([rows * length, 64])).into_data().try_into_vec().unwrap()
}

#[test]
fn q4_1_projections_load_compact_on_the_cpu_and_dense_on_request() {
    let model = load();
    for b in &model.blocks {
        assert!(b.attn.v.blocks.is_some() && b.mlp.gate.blocks.is_some(), "the Q4_1 projections are compact");
        assert!(b.attn.q.blocks.is_none() && b.mlp.up.blocks.is_none(), "F16 and Q8_0 projections are dense");
        // 4 bits a weight, and an f32 scale and minimum a block of 32: 0.75 bytes a weight.
        assert_eq!(b.attn.v.blocks.as_ref().unwrap().bytes(), 64 * 32 * 3 / 4);
    }
    let dense = model.with_dense_weights();
    assert!(dense.blocks.iter().all(|b| b.attn.v.blocks.is_none() && b.mlp.gate.blocks.is_none()));
    assert_eq!(dense.blocks[0].attn.v.weight.val().dims(), [64, 32]);
}

#[test]
fn compact_logits_equal_the_dense_model_s_bit_for_bit_above_the_fused_rows() {
    // 24 token rows: more than the fused product takes, so W is dequantised and multiplied.
    let compact = logits(&load(), 2, 12);
    let dense = logits(&load().with_dense_weights(), 2, 12);
    assert_eq!(compact.len(), 24 * 40);
    assert!(compact.iter().all(|x| x.is_finite()));
    let differing = compact.iter().zip(&dense).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(differing, 0, "compact {:?}… vs dense {:?}…", &compact[..4], &dense[..4]);
}

#[test]
fn few_rows_run_from_the_blocks_close_to_the_dense_model_and_repeatably() {
    // 1 and 8 token rows (decoding one and eight continuations): the fused product.
    for (rows, length) in [(1, 1), (2, 4)] {
        let compact = logits(&load(), rows, length);
        let dense = logits(&load().with_dense_weights(), rows, length);
        let scale = dense.iter().fold(0.0f32, |a, x| a.max(x.abs()));
        let worst = compact.iter().zip(&dense).fold(0.0f32, |a, (x, y)| a.max((x - y).abs()));
        assert!(worst <= 1e-5 * scale, "{rows}×{length}: worst difference {worst} for logits up to {scale}");
        assert_eq!(logits(&load(), rows, length), compact, "the same bits again");
    }
}

/// Trainers draw their adapters from the shared device RNG: one at a time.
static DEVICE_RNG: Mutex<()> = Mutex::new(());

fn trainer(base: &Llama, method: Method) -> Trainer {
    // v and gate are compact; q (F16) is dense: gradients cross both kinds of product.
    let lora = LoraConfig { rank: 2, alpha: 4.0, targets: vec![Target::Q, Target::V, Target::Gate], ..Default::default() };
    let config = TrainConfig { lora, learning_rate: 2e-2, seed: 5, ..Default::default() };
    let _rng = DEVICE_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Trainer::new(base, method, config, &Device::flex())
}

#[test]
fn training_steps_on_compact_weights_land_where_dense_ones_do() {
    let (compact, dense) = (load(), load().with_dense_weights());
    for method in [Method::Ddpo, Method::Dorpo] {
        let (mut a, mut b) = (trainer(&compact, method), trainer(&dense, method));
        let mut losses = Vec::new();
        for step in 0..3 {
            let metrics = |t: &mut Trainer| match pollster::block_on(t.step(&pairs())).unwrap() {
                StepOutcome::Applied(m) => m,
                StepOutcome::Rejected(why) => panic!("{method:?}: {why}"),
            };
            let (x, y) = (metrics(&mut a), metrics(&mut b));
            assert!((x.loss - y.loss).abs() < 1e-6, "{method:?} step {step}: loss {} vs {}", x.loss, y.loss);
            for (p, q) in x.per_pair.iter().zip(&y.per_pair) {
                assert!((p.0 - q.0).abs() < 1e-6 && (p.1 - q.1).abs() < 1e-6, "{method:?} step {step}: {p:?} vs {q:?}");
            }
            losses.push(x.loss);
        }
        // The steps moved the adapters (else equal losses would say nothing about the gradients):
        // the loss moves by over 100 times the tolerance the two models are held to.
        assert!((losses[2] - losses[0]).abs() > 1e-4, "{method:?}: the steps changed nothing: {losses:?}");
        let (fa, fb) = (a.save_adapters().unwrap(), b.save_adapters().unwrap());
        let (sa, sb) = (floats(&fa), floats(&fb));
        assert_eq!(sa.len(), sb.len());
        let worst = sa.iter().zip(&sb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{method:?}: adapters differ by up to {worst}");
    }
}

/// Every f32 of a safetensors file's data section, in order.
fn floats(file: &[u8]) -> Vec<f32> {
    let header = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    file[8 + header..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

