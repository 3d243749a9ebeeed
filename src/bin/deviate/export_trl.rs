//! `deviate export-trl`: a share link's training lanes as the files TRL trains on (what the
//! page's "Run this in TRL" downloads, without adapters: the CLI has trained none).

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::engine::export::{LaneExport, files};

use crate::lanes;

pub fn run(link: &str, out: &Path, toy: &Path, models_dir: &Path, device: &Device) -> Result<()> {
    let lanes = lanes::from_link(link, toy, models_dir, device)?;
    let setup = &lanes.setup;
    let exports: Vec<LaneExport> = (setup.methods.iter().zip(&lanes.pairs).enumerate())
        .map(|(index, (&method, pairs))| LaneExport { index, method, pairs, adapters: None })
        .collect();
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
