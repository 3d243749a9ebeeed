//! SmolLM2-135M-Instruct (Q4_1 GGUF) natively on the Flex CPU backend against
//! tests/reference/smollm2_reference.json, written by tests/reference/smollm2_extra.py from the
//! independent numpy forward in shared/reference (float64): dequantised blocks bit for bit, the
//! prompt's token ids exactly, the first step's logits within 1e-4, and the 20 greedy ids of
//! shared/reference/smollm2_reference.txt exactly. Needs `make models`.

use burn::tensor::Device;
use deviate::core::sampling::SamplingParams;
use deviate::engine::generate::{Finish, GenerateParams, LanguageModel};
use deviate::model::gguf::Gguf;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Block {
    first64: Vec<f64>,
    at_100000: Vec<f64>,
}

#[derive(Deserialize)]
struct Reference {
    prompt: String,
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
    first_logits_top20: Vec<(u32, f64)>,
    first_logits_sample_step: usize,
    first_logits_sample: Vec<f64>,
    dequantized: BTreeMap<String, Block>,
}

/// Largest allowed |logit − reference| (logits are ~±20; f32 vs the float64 reference).
const LOGIT_TOLERANCE: f64 = 1e-4;

fn reference() -> Reference {
    serde_json::from_str(include_str!("reference/smollm2_reference.json")).unwrap()
}

fn gguf_bytes() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make models` first", path.display()))
}

#[test]
fn dequantisation_is_bit_exact() {
    let bytes = gguf_bytes();
    let gguf = Gguf::parse(&bytes).unwrap();
    for (name, block) in reference().dequantized {
        let (values, _) = gguf.tensor_f32(&name, None).unwrap();
        // The reference's values are f32 (numpy's dequantize), printed as JSON decimals.
        let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        assert_eq!(values[..64], as_f32(&block.first64)[..], "{name}, first 64 values");
        if values.len() >= 100_032 {
            assert_eq!(values[100_000..100_032], as_f32(&block.at_100000)[..], "{name}, values 100000..100032");
        }
    }
}

#[test]
fn smollm2_matches_the_numpy_reference() {
    let reference = reference();
    let device = Device::flex();
    let lm = LanguageModel::from_gguf_bytes(&gguf_bytes(), &device).unwrap();
    assert_eq!(lm.tokenizer().encode(&reference.prompt).unwrap(), reference.prompt_ids);

    let logits = pollster::block_on(lm.first_logits(&reference.prompt_ids)).unwrap();
    let mut worst = 0.0f64;
    for &(id, value) in &reference.first_logits_top20 {
        worst = worst.max((logits[id as usize] as f64 - value).abs());
    }
    for (n, &value) in reference.first_logits_sample.iter().enumerate() {
        worst = worst.max((logits[n * reference.first_logits_sample_step] as f64 - value).abs());
    }
    eprintln!("first-step logits: max |ours − numpy| = {worst:.2e} over {} values", 20 + reference.first_logits_sample.len());
    assert!(worst <= LOGIT_TOLERANCE, "max logit difference {worst}");
    let mut ranked: Vec<u32> = (0..logits.len() as u32).collect();
    ranked.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]));
    let top: Vec<u32> = reference.first_logits_top20.iter().map(|&(id, _)| id).collect();
    assert_eq!(ranked[..20], top[..], "top-20 order");

    let params = GenerateParams {
        n: 1,
        max_tokens: reference.greedy_ids.len(),
        raw: true,
        sampling: SamplingParams { temperature: 0.0, repetition_penalty: 1.0, ..Default::default() },
        ..Default::default()
    };
    let out = pollster::block_on(lm.generate(&reference.prompt, &params, |_| std::ops::ControlFlow::Continue(()))).unwrap();
    assert_eq!(out[0].token_ids, reference.greedy_ids);
    assert_eq!(out[0].finish, Finish::Length);
    assert!(out[0].text.starts_with(" girl named Emma"), "{:?}", out[0].text);
}
