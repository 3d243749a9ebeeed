//! `deviate bench work`: what a decoding step and a training step ask of the device, counted
//! rather than timed: kernel launches (GPU dispatches, on `--device wgpu`; Flex runs no kernels)
//! and the engine's readbacks (each a wait for the device). A real GPU in a browser pays for
//! each of them whatever its speed, so the counts say where WebGPU time goes.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use burn::tensor::Device;
use cubecl_runtime::logging::{LaunchObservation, LaunchObserver};
use deviate::core::sampling::SamplingParams;
use deviate::engine::experiment::{ExperimentConfig, analyse, batch, prepare_pairs};
use deviate::engine::generate::GenerateParams;
use deviate::engine::readback;
use deviate::engine::train::{Method, TrainConfig, Trainer};
use serde::Serialize;

use crate::bench::GENERATE_PROMPT;
use crate::bench_lesson::{PAIRS, lesson_set};
use crate::{experiment::load_set, models};

#[derive(Default)]
struct Launches(AtomicU64);

impl LaunchObserver for Launches {
    fn launched(&self, _kernel: &'static str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Launches and readbacks of one piece of work.
#[derive(Clone, Copy, Debug, Default, Serialize)]
struct Work {
    dispatches: f64,
    readbacks: f64,
}

/// Counts what `work` asks of the device.
fn counted(work: impl FnOnce() -> Result<()>) -> Result<Work> {
    let launches = Arc::new(Launches::default());
    let watching = LaunchObservation::new(launches.clone());
    let reads = readback::count();
    work()?;
    drop(watching);
    Ok(Work { dispatches: launches.0.load(Ordering::Relaxed) as f64, readbacks: (readback::count() - reads) as f64 })
}

#[derive(Serialize)]
struct WorkReport {
    /// Per decoding step (one new token in every row) at batch 1 and 4, prompt reading excluded.
    decode_batch_1: Work,
    decode_batch_4: Work,
    /// One DDPO lane-step on 2 pairs (after a warm-up step, so the reference log-probs are cached).
    train_step: Work,
}

pub fn run(models_dir: &Path, device: &Device, label: &str, data: &Path, json: bool) -> Result<()> {
    let lm = models::language_model(models_dir, device)?;
    let embedder = models::embedder(models_dir, device)?;
    // Steps after prompt reading: the difference between a long and a short generation.
    let decode = |n: usize| -> Result<Work> {
        let run = |tokens: usize| {
            let sampling = SamplingParams { temperature: 0.0, ..Default::default() };
            let params = GenerateParams { n, max_tokens: tokens, min_tokens: tokens, sampling, raw: false };
            counted(|| {
                pollster::block_on(lm.generate(GENERATE_PROMPT, &params, |_| ControlFlow::Continue(()))).map(drop).context("generation failed")
            })
        };
        run(2)?; // warm-up: kernels compiled and tuned
        let (short, long) = (run(4)?, run(12)?);
        let work = Work { dispatches: (long.dispatches - short.dispatches) / 8.0, readbacks: (long.readbacks - short.readbacks) / 8.0 };
        eprintln!("decoding step, batch {n}: {work:?}");
        Ok(work)
    };
    let (decode_batch_1, decode_batch_4) = (decode(1)?, decode(4)?);

    let set = lesson_set(load_set(data)?)?;
    let config = ExperimentConfig::default();
    let analysis = pollster::block_on(analyse(&embedder, &set, &config.weighting))?;
    let pairs = prepare_pairs(&lm, &set, &analysis, Method::Ddpo, &config)?;
    let mut trainer = Trainer::new(lm.model(), Method::Ddpo, TrainConfig::default(), device);
    let mut step = |k: usize| -> Result<Work> {
        let tokens: Vec<_> = batch(&pairs, k, PAIRS).into_iter().map(|p| p.tokens).collect();
        counted(|| pollster::block_on(trainer.step(&tokens)).map(drop).context("the training step failed"))
    };
    step(1)?;
    let report = WorkReport { decode_batch_1, decode_batch_4, train_step: step(2)? };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("deviate work per step ({label}; dispatches = kernel launches, readbacks = waits for the device):");
        for (what, work) in [("decoding step, batch 1", report.decode_batch_1), ("decoding step, batch 4", report.decode_batch_4), ("DDPO step, 2 pairs", report.train_step)] {
            println!("  {what:24} {:8.1} dispatches {:6.1} readbacks", work.dispatches, work.readbacks);
        }
    }
    Ok(())
}
