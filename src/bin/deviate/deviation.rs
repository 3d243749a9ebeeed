//! `deviate deviation`: stream JSONL prompts with responses to JSONL deviations and weights.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use deviate::core::jaccard::jaccard_distances;
use deviate::core::records::{PromptDeviation, PromptResponses};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Similarity {
    /// Token Jaccard (lowercase words; no model).
    Jaccard,
}

/// Reads one record per line and writes one result per line, in order. Blank lines are
/// skipped. The first bad line stops the run with an error naming it; every result for the
/// lines before it has been written and flushed.
pub fn run(similarity: Similarity, input: Option<PathBuf>, min_weight: Option<f64>) -> Result<()> {
    let reader: Box<dyn BufRead> = match &input {
        Some(path) => Box::new(BufReader::new(
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
        None => Box::new(io::stdin().lock()),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let result = stream(similarity, reader, &mut out, min_weight);
    out.flush().context("cannot write to stdout")?;
    result
}

fn stream(similarity: Similarity, reader: impl BufRead, out: &mut impl Write, min_weight: Option<f64>) -> Result<()> {
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("line {number}: cannot read input"))?;
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
        let distances = match similarity {
            Similarity::Jaccard => jaccard_distances(&record.responses),
        };
        let result = PromptDeviation::from_distances(record.prompt, &distances, min_weight);
        serde_json::to_writer(&mut *out, &result).context("cannot write to stdout")?;
        out.write_all(b"\n").context("cannot write to stdout")?;
    }
    Ok(())
}
