//! A share link's training lanes as the page prepares them: its set-up (a lesson link's: what
//! its "Run the lesson" trains), its data (the link's own or the toy set), and each lane's pairs
//! in training order. `deviate train --link` and `deviate export-trl` start here.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::core::dataset::PreferenceSet;
use deviate::engine::experiment::{PreparedPair, analyse, prepare_pairs};
use deviate::engine::generate::LanguageModel;
use deviate::engine::link::Experiment;
use deviate::engine::protocol::TrainSetup;

use crate::{experiment::load_set, models};

pub struct Lanes {
    pub experiment: Experiment,
    /// What the lanes train with.
    pub setup: TrainSetup,
    pub set: PreferenceSet,
    pub lm: LanguageModel,
    /// Per lane (the set-up's methods, in order), its pairs.
    pub pairs: Vec<Vec<PreparedPair>>,
}

/// Decodes `link` (refused as the page refuses it) and prepares every lane's pairs; `toy` is the
/// set a link without its own data trains on.
pub fn from_link(link: &str, toy: &Path, models_dir: &Path, device: &Device) -> Result<Lanes> {
    let experiment = Experiment::decode(link).context("the link")?;
    let setup = if experiment.lesson { experiment.train.lesson(experiment.run_steps) } else { experiment.train.clone() };
    let set = match &setup.data {
        Some(set) => set.clone(),
        None => load_set(toy)?,
    };
    let lm = models::language_model(models_dir, device)?;
    let embedder = models::embedder(models_dir, device)?;
    let analysis = pollster::block_on(analyse(&embedder, &set, &setup.weighting))?;
    let config = setup.experiment_config(set.heldout.len());
    let pairs = setup.methods.iter().map(|&m| prepare_pairs(&lm, &set, &analysis, m, &config)).collect::<Result<_, _>>()?;
    Ok(Lanes { experiment, setup, set, lm, pairs })
}
