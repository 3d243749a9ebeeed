//! `deviate train`: one method on a preference set, TRL metrics as JSONL on stdout (one line per
//! step), LoRA adapters loaded from and saved to safetensors. With `--link URL --lane K`, lane K
//! of a share link as the page trains it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use deviate::engine::experiment::{ExperimentConfig, PreparedPair, analyse, batch, prepare_pairs};
use deviate::engine::generate::LanguageModel;
use deviate::engine::train::{Method, StepOutcome, TrainConfig, Trainer};

use crate::{experiment::load_set, lanes, models};

pub struct TrainArgs {
    pub method: Method,
    pub steps: usize,
    /// The number of the first step: its batch is the one a session that took `start_step − 1`
    /// steps takes next (with --load, their adapters continue where they were saved).
    pub start_step: usize,
    pub pairs_per_step: usize,
    pub seed: u64,
    pub learning_rate: f64,
    /// A share link and its lane (from 1): every setting but the steps and adapters comes from it.
    pub lane: Option<(String, usize)>,
    pub load: Option<PathBuf>,
    pub save: Option<PathBuf>,
    pub data: PathBuf,
}

/// What a run trains: the model, the method, its pairs, the optimiser's settings, pairs a step.
struct Plan {
    lm: LanguageModel,
    method: Method,
    pairs: Vec<PreparedPair>,
    train: TrainConfig,
    pairs_per_step: usize,
}

fn plan(args: &TrainArgs, models_dir: &Path, device: &Device) -> Result<Plan> {
    if let Some((link, lane)) = &args.lane {
        let mut lanes = lanes::from_link(link, &args.data, models_dir, device)?;
        let setup = &lanes.setup;
        let count = setup.methods.len();
        if !(1..=count).contains(lane) {
            bail!("--lane {lane}: the link has {count} lane(s)");
        }
        let (method, train, pairs_per_step) = (setup.methods[lane - 1], setup.train.clone(), setup.pairs_per_step);
        let pairs = lanes.pairs.swap_remove(lane - 1);
        return Ok(Plan { lm: lanes.lm, method, pairs, train, pairs_per_step });
    }
    let set = load_set(&args.data)?;
    let lm = models::language_model(models_dir, device)?;
    let embedder = models::embedder(models_dir, device)?;
    let config = ExperimentConfig { seed: args.seed, ..Default::default() };
    let analysis = pollster::block_on(analyse(&embedder, &set, &config.weighting))?;
    let pairs = prepare_pairs(&lm, &set, &analysis, args.method, &config)?;
    let train = TrainConfig { seed: args.seed, learning_rate: args.learning_rate, ..Default::default() };
    Ok(Plan { lm, method: args.method, pairs, train, pairs_per_step: args.pairs_per_step })
}

pub fn run(args: &TrainArgs, models_dir: &Path, device: &Device) -> Result<()> {
    if args.steps == 0 || args.pairs_per_step == 0 || args.start_step == 0 {
        bail!("--steps, --start-step and --pairs-per-step must be at least 1");
    }
    let plan = plan(args, models_dir, device)?;
    let mut trainer = Trainer::new(plan.lm.model(), plan.method, plan.train, device);
    if let Some(path) = &args.load {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        trainer.load_adapters(bytes).with_context(|| format!("{}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    for step in args.start_step..args.start_step + args.steps {
        let tokens: Vec<_> = batch(&plan.pairs, step, plan.pairs_per_step).into_iter().map(|p| p.tokens).collect();
        match pollster::block_on(trainer.step(&tokens))? {
            StepOutcome::Applied(metrics) => serde_json::to_writer(&mut out, &metrics)?,
            StepOutcome::Rejected(why) => {
                eprintln!("deviate: step {step} rejected: {why}");
                serde_json::to_writer(&mut out, &serde_json::json!({ "step": step, "rejected": why }))?
            }
        }
        out.write_all(b"\n")?;
        out.flush()?;
    }
    if let Some(path) = &args.save {
        std::fs::write(path, trainer.save_adapters()?).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("saved the LoRA adapters to {}", path.display());
    }
    Ok(())
}
