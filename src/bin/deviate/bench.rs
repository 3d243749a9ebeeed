//! Benchmarks, not tests. `deviate bench embed`: MiniLM throughput natively at batch 1 and 32
//! on ~60-token sentences (bench/peer_embed.py runs sentence-transformers on the same sentences).
//! `deviate bench generate`: SmolLM2 tokens/s at batch 1 and 8 (bench/peer_generate.py runs
//! transformers on the same prompt ids and length). `deviate bench train`: one DDPO step (4 pairs,
//! ≤ 96 tokens each) with LoRA (bench/peer_train.py does the same step with PyTorch + peft).

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::engine::experiment::{ExperimentConfig, analyse, prepare_pairs};
use deviate::engine::generate::{GenerateParams, LanguageModel};
use deviate::engine::train::{Method, PairTokens, TrainConfig, Trainer};
use serde::Serialize;

use crate::models;

const WORDS: [&str; 24] = [
    "lighthouse", "keeper", "storm", "harbour", "lantern", "whisper", "ocean", "midnight", "stairs", "gull",
    "letter", "captain", "fog", "island", "bell", "winter", "shadow", "signal", "rope", "tide", "memory",
    "stone", "window", "song",
];

/// `count` deterministic sentences of about 60 WordPiece tokens each.
pub fn sentences(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let words: Vec<&str> = (0..48).map(|j| WORDS[(i * 7 + j * 5 + j * j) % WORDS.len()]).collect();
            format!("{}, and then the night was quiet again.", words.join(" "))
        })
        .collect()
}

#[derive(Serialize)]
struct Report {
    sentences: Vec<String>,
    /// Per batch size: sentences per second (median of the repeats).
    batch_1: f64,
    batch_32: f64,
    tokens_per_sentence: f64,
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn embed(models_dir: &Path, device: &Device, label: &str, count: usize, repeats: usize, json: bool) -> Result<()> {
    let embedder = models::embedder(models_dir, device)?;
    let texts = sentences(count);
    let tokens = texts.iter().map(|t| embedder.token_ids(t).map(|ids| ids.len())).sum::<Result<usize, _>>()?;
    // Warm-up: first calls allocate and fill caches.
    pollster::block_on(embedder.embed(&texts[..texts.len().min(32)])).context("embedding failed")?;
    let rate = |batch: usize| -> Result<f64> {
        let mut rates = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let start = Instant::now();
            for chunk in texts.chunks(batch) {
                pollster::block_on(embedder.embed(chunk)).context("embedding failed")?;
            }
            rates.push(texts.len() as f64 / start.elapsed().as_secs_f64());
        }
        Ok(median(rates))
    };
    let report = Report {
        batch_1: rate(1)?,
        batch_32: rate(32)?,
        tokens_per_sentence: tokens as f64 / texts.len() as f64,
        sentences: texts,
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "deviate embed ({label}, {} sentences of {:.0} tokens, median of {repeats}):",
            report.sentences.len(),
            report.tokens_per_sentence
        );
        println!("  batch  1: {:8.1} sentences/s", report.batch_1);
        println!("  batch 32: {:8.1} sentences/s", report.batch_32);
    }
    Ok(())
}

/// The prompt of `deviate bench generate` (wrapped in the chat template).
pub const GENERATE_PROMPT: &str = "Write a short story about a lighthouse keeper who finds a letter in a bottle.";

#[derive(Serialize)]
struct GenerateReport {
    /// The token ids the model reads (chat template applied).
    prompt_ids: Vec<u32>,
    tokens: usize,
    /// Generated tokens per second at batch 1 and batch 8 (median of the repeats), prompt
    /// processing included.
    batch_1: f64,
    batch_8: f64,
}

pub fn generate(models_dir: &Path, device: &Device, label: &str, tokens: usize, repeats: usize, json: bool) -> Result<()> {
    let lm = models::language_model(models_dir, device)?;
    let prompt_ids = lm.tokenizer().encode(&LanguageModel::prompt_text(GENERATE_PROMPT, false))?;
    let rate = |n: usize| -> Result<f64> {
        let params = GenerateParams { n, max_tokens: tokens, min_tokens: tokens, ..Default::default() };
        let mut rates = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let start = Instant::now();
            let out = pollster::block_on(lm.generate(GENERATE_PROMPT, &params, |_| ControlFlow::Continue(())))
                .context("generation failed")?;
            let generated: usize = out.iter().map(|c| c.token_ids.len()).sum();
            rates.push(generated as f64 / start.elapsed().as_secs_f64());
        }
        Ok(median(rates))
    };
    rate(1)?; // warm-up
    let report = GenerateReport { batch_1: rate(1)?, batch_8: rate(8)?, prompt_ids, tokens };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "deviate generate ({label}, prompt of {} tokens, {} new tokens, median of {repeats}):",
            report.prompt_ids.len(),
            tokens
        );
        println!("  batch 1: {:8.1} tokens/s", report.batch_1);
        println!("  batch 8: {:8.1} tokens/s", report.batch_8);
    }
    Ok(())
}

#[derive(Serialize)]
struct TrainReport {
    /// The step's pairs as token ids, with their DDPO weights (for the peer benchmark).
    pairs: Vec<TrainPair>,
    /// Seconds per DDPO step (median of the repeats; reference log-probs already cached).
    step_seconds: f64,
}

#[derive(Serialize)]
struct TrainPair {
    prompt: Vec<u32>,
    chosen: Vec<u32>,
    rejected: Vec<u32>,
    weight: f64,
}

/// Times one DDPO step on the first `pairs` toy pairs (each sequence ≤ 96 tokens).
pub fn train(models_dir: &Path, device: &Device, label: &str, data: &Path, pairs: usize, repeats: usize, json: bool) -> Result<()> {
    let set = crate::experiment::load_set(data)?;
    let lm = models::language_model(models_dir, device)?;
    let embedder = models::embedder(models_dir, device)?;
    let config = ExperimentConfig::default();
    let analysis = pollster::block_on(analyse(&embedder, &set, &config.weighting))?;
    let prepared = prepare_pairs(&lm, &set, &analysis, Method::Ddpo, &config)?;
    let tokens: Vec<PairTokens> = prepared
        .into_iter()
        .map(|p| p.tokens)
        .filter(|t| t.prompt.len() + t.chosen.len().max(t.rejected.len()) <= 96)
        .take(pairs)
        .collect();
    let mut trainer = Trainer::new(lm.model(), Method::Ddpo, TrainConfig::default(), device);
    pollster::block_on(trainer.step(&tokens))?; // warm-up; fills the reference cache
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        pollster::block_on(trainer.step(&tokens))?;
        times.push(start.elapsed().as_secs_f64());
    }
    let report = TrainReport {
        step_seconds: median(times),
        pairs: tokens
            .into_iter()
            .map(|t| TrainPair { prompt: t.prompt, chosen: t.chosen, rejected: t.rejected, weight: t.weight })
            .collect(),
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let longest = report.pairs.iter().map(|p| p.prompt.len() + p.chosen.len().max(p.rejected.len())).max().unwrap_or(0);
        println!("deviate train ({label}, DDPO, LoRA r8 q+v, {} pairs, longest sequence {longest} tokens, median of {repeats}):", report.pairs.len());
        println!("  {:.2} s per step", report.step_seconds);
    }
    Ok(())
}
