//! `deviate embed`: lines of text in, JSONL `{"text", "embedding"}` out, in batches.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::engine::embed::MAX_BATCH;
use serde::Serialize;

use crate::{input, models};

#[derive(Serialize)]
struct Line<'a> {
    text: &'a str,
    embedding: &'a [f32],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

pub fn run(input: Option<&Path>, models_dir: &Path, device: &Device) -> Result<()> {
    let embedder = models::embedder(models_dir, device)?;
    let (reader, mut progress) = input::open(input)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut batch: Vec<String> = Vec::with_capacity(MAX_BATCH);
    let flush = |batch: &mut Vec<String>, out: &mut BufWriter<_>| -> Result<()> {
        let embedded = pollster::block_on(embedder.embed(batch)).context("embedding failed")?;
        for ((text, embedding), truncated) in batch.iter().zip(&embedded.vectors).zip(&embedded.truncated) {
            serde_json::to_writer(&mut *out, &Line { text, embedding, truncated: *truncated })?;
            out.write_all(b"\n")?;
        }
        batch.clear();
        Ok(())
    };
    for line in reader.lines() {
        let line = line.context("cannot read input")?;
        progress.advance(line.len());
        batch.push(line);
        if batch.len() == MAX_BATCH {
            flush(&mut batch, &mut out)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut out)?;
    }
    progress.finish();
    out.flush().context("cannot write to stdout")
}
