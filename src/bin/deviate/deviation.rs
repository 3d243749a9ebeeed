//! `deviate deviation`: stream JSONL prompts with responses to JSONL deviations and weights.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use deviate::core::records::{PromptDeviation, PromptResponses};
use deviate::core::similarity::SimilarityKind;
use deviate::engine::embed::Embedder;
use deviate::engine::similarity::distances;

use crate::{input, models};

/// Reads one record per line and writes one result per line, in order. Blank lines are
/// skipped. The first bad line stops the run with an error naming it; every result for the
/// lines before it has been written and flushed.
pub fn run(similarity: SimilarityKind, input: Option<PathBuf>, min_weight: Option<f64>, models_dir: &Path, device: &Device) -> Result<()> {
    let embedder = if similarity.needs_embedder() { Some(models::embedder(models_dir, device)?) } else { None };
    let (reader, mut progress) = input::open(input.as_deref())?;
    let mut out = BufWriter::new(io::stdout().lock());
    let result = stream(similarity, device, embedder.as_ref(), reader, &mut out, min_weight, &mut progress);
    progress.finish();
    out.flush().context("cannot write to stdout")?;
    result
}

fn stream(
    similarity: SimilarityKind,
    device: &Device,
    embedder: Option<&Embedder>,
    reader: impl BufRead,
    out: &mut impl Write,
    min_weight: Option<f64>,
    progress: &mut input::Progress,
) -> Result<()> {
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("line {number}: cannot read input"))?;
        progress.advance(line.len());
        if line.trim().is_empty() {
            continue;
        }
        let record: PromptResponses = match serde_json::from_str(&line) {
            Ok(record) => record,
            Err(error) => bail!("line {number}: invalid JSON record: {error}"),
        };
        if let Err(error) = record.validate() {
            bail!("line {number}: {error}");
        }
        let (kinds, truncated) = pollster::block_on(distances(similarity, &record.responses, device, embedder))
            .with_context(|| format!("line {number}"))?;
        let mut result = PromptDeviation::from_distances(record.prompt, &kinds, min_weight);
        result.truncated = truncated;
        serde_json::to_writer(&mut *out, &result).context("cannot write to stdout")?;
        out.write_all(b"\n").context("cannot write to stdout")?;
    }
    Ok(())
}
