//! Benchmarks, not tests. `deviate bench embed`: MiniLM throughput natively at batch 1 and 32
//! on ~60-token sentences (bench/peer_embed.py runs sentence-transformers on the same sentences).
//! `deviate bench generate`: SmolLM2 tokens/s at batch 1 and 8 (bench/peer_generate.py runs
//! transformers on the same prompt ids and length).

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::engine::generate::{GenerateParams, LanguageModel};
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

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn embed(models_dir: &Path, count: usize, repeats: usize, json: bool) -> Result<()> {
    let embedder = models::embedder(models_dir, &Device::flex())?;
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
            "deviate embed (burn Flex CPU, {} sentences of {:.0} tokens, median of {repeats}):",
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

pub fn generate(models_dir: &Path, tokens: usize, repeats: usize, json: bool) -> Result<()> {
    let lm = models::language_model(models_dir, &Device::flex())?;
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
            "deviate generate (burn Flex CPU, prompt of {} tokens, {} new tokens, median of {repeats}):",
            report.prompt_ids.len(),
            tokens
        );
        println!("  batch 1: {:8.1} tokens/s", report.batch_1);
        println!("  batch 8: {:8.1} tokens/s", report.batch_8);
    }
    Ok(())
}
