//! `deviate bench embed`: MiniLM throughput natively, at batch 1 and batch 32, on ~60-token
//! sentences. A benchmark, not a test: bench/peer_embed.py runs sentence-transformers on the
//! same sentences and prints the ratio.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
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
