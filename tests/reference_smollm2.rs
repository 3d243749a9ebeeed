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

#[derive(Deserialize)]
struct LogpCase {
    prompt: String,
    response: String,
    prompt_ids: Vec<u32>,
    completion_ids: Vec<u32>,
    completion_logps: Vec<f64>,
    sum_logp: f64,
}

#[derive(Deserialize)]
struct LogpReference {
    cases: Vec<LogpCase>,
}

/// Largest allowed |log-prob − reference| per completion token (f32 against float64), and for
/// a completion's sum (about 30–80 tokens).
const TOKEN_LOGP_TOLERANCE: f64 = 1e-4;
const SUM_LOGP_TOLERANCE: f64 = 1e-3;

/// Per-token log-probs of `completion` after `prompt` from one plain forward pass and a
/// float64 log-softmax on the host: the loop the trainer's batched, masked version must equal.
fn per_token_logps(lm: &LanguageModel, prompt: &[u32], completion: &[u32], device: &Device) -> Vec<f64> {
    use burn::tensor::{Int, Tensor, TensorData};
    use deviate::model::llama::{Adapters, KvCache};
    let ids: Vec<i64> = prompt.iter().chain(completion).map(|&id| i64::from(id)).collect();
    let len = ids.len();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, len]), device);
    let hidden = lm.model().forward(ids, &mut KvCache::default(), None, Adapters::Off);
    let [_, _, width] = hidden.dims();
    let logits: Vec<f32> = lm.model().logits(hidden.reshape([len, width])).into_data().try_to_vec::<f32>().unwrap();
    let vocab = logits.len() / len;
    (0..completion.len())
        .map(|j| {
            let row = &logits[(prompt.len() - 1 + j) * vocab..][..vocab];
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
            let log_z = max + row.iter().map(|&x| (f64::from(x) - max).exp()).sum::<f64>().ln();
            f64::from(row[completion[j] as usize]) - log_z
        })
        .collect()
}

#[test]
fn completion_logps_match_the_float64_reference() {
    use deviate::engine::experiment::response_tokens;
    use deviate::engine::logps::completion_logp_sums;
    use deviate::model::llama::Adapters;
    let reference: LogpReference = serde_json::from_str(include_str!("reference/smollm2_logps.json")).unwrap();
    let device = Device::flex();
    let lm = LanguageModel::from_gguf_bytes(&gguf_bytes(), &device).unwrap();
    let (mut worst_token, mut worst_sum) = (0.0f64, 0.0f64);
    let mut rows = Vec::new();
    for case in &reference.cases {
        // The trainer's ids for a toy-set response are the reference's (chat template, end token).
        let (prompt, completion) = response_tokens(&lm, &case.prompt, &case.response).unwrap();
        assert_eq!((&prompt, &completion), (&case.prompt_ids, &case.completion_ids), "{}", case.response);
        let ours = per_token_logps(&lm, &prompt, &completion, &device);
        assert_eq!(ours.len(), case.completion_logps.len());
        for (a, b) in ours.iter().zip(&case.completion_logps) {
            worst_token = worst_token.max((a - b).abs());
        }
        rows.push((prompt, completion));
    }
    // The batched, padded, head-on-selected-positions computation the losses and the probe read.
    let sums = pollster::block_on(completion_logp_sums(lm.model(), &rows, Adapters::Off, &device)).unwrap();
    for (sum, case) in sums.iter().zip(&reference.cases) {
        worst_sum = worst_sum.max((f64::from(*sum) - case.sum_logp).abs());
    }
    eprintln!("completion log-probs: max |ours − float64| per token {worst_token:.2e}, per sum {worst_sum:.2e}");
    assert!(worst_token <= TOKEN_LOGP_TOLERANCE, "per-token log-prob difference {worst_token}");
    assert!(worst_sum <= SUM_LOGP_TOLERANCE, "summed log-prob difference {worst_sum}");
}
