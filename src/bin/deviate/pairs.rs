//! `deviate pairs`: the preference pairs a method trains on, as TRL preference JSONL
//! (`prompt`, `chosen`, `rejected`, plus `weight` and `deviation_chosen`), ready for TRL.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::engine::experiment::{ExperimentConfig, analyse, prepare_pairs};
use deviate::engine::export::trl_rows;
use deviate::engine::train::Method;

use crate::{experiment::load_set, models};

pub fn run(method: Method, seed: u64, data: &Path, models_dir: &Path, device: &Device) -> Result<()> {
    let set = load_set(data)?;
    let lm = models::language_model(models_dir, device)?;
    let embedder = models::embedder(models_dir, device)?;
    let config = ExperimentConfig { seed, ..Default::default() };
    let analysis = pollster::block_on(analyse(&embedder, &set, &config.weighting))?;
    let pairs = prepare_pairs(&lm, &set, &analysis, method, &config)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for row in trl_rows(&set, &pairs, method) {
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
    }
    out.flush().context("cannot write to stdout")
}
