//! `deviate export-trl`: a share link's training lanes as the files TRL trains on (what the
//! page's "Run this in TRL" downloads), each with the adapters its lane starts from: drawn from
//! the link's seed as the page draws them, so TRL's run from them takes the page's steps.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::engine::export::{LaneExport, files};
use deviate::engine::train::Trainer;

use crate::lanes;

pub fn run(link: &str, out: &Path, toy: &Path, models_dir: &Path, device: &Device) -> Result<()> {
    let lanes = lanes::from_link(link, toy, models_dir, device)?;
    let setup = &lanes.setup;
    let mut exports = Vec::with_capacity(setup.methods.len());
    for (index, (&method, pairs)) in setup.methods.iter().zip(&lanes.pairs).enumerate() {
        let adapters = Trainer::new(lanes.lm.model(), method, setup.train.clone(), device).save_adapters()?;
        exports.push(LaneExport { index, method, pairs, adapters: Some(adapters) });
    }
    for file in files(&lanes.set, setup, &exports, lanes.experiment.run_steps, link) {
        let path = out.join(&file.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, &file.contents).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
