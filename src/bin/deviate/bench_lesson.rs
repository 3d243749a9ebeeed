//! `deviate bench lesson`: the figures a lesson waits on, natively, with the exact inputs the
//! browser bench (tests/e2e/bench.test.mjs, `DEVIATE_E2E_BENCH=1`) gives the page's worker, so the
//! two can be set side by side: greedy tokens/s at batch 1 and 4, one DDPO lane-step on 2 pairs,
//! one evaluation of the base model (the page's default: 2 held-out prompts, 3 samples, 24
//! tokens), and MiniLM sentences/s for one request of `sentences` texts. Each is the median of
//! `repeats` runs after a warm-up.

use std::future::Future;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use deviate::core::dataset::PreferenceSet;
use deviate::core::sampling::SamplingParams;
use deviate::engine::experiment::{ExperimentConfig, analyse, batch, evaluate, prepare_pairs};
use deviate::engine::generate::GenerateParams;
use deviate::engine::protocol::EvalSetup;
use deviate::engine::train::{Method, TrainConfig, Trainer};
use serde::Serialize;

use crate::bench::{GENERATE_PROMPT, median, sentences};
use crate::{experiment::load_set, models};

/// Pairs in the lane-step (the page's lesson trains 2 pairs per lane-step).
pub const PAIRS: usize = 2;

/// The inputs (for the browser bench to send the same) and the figures.
#[derive(Serialize)]
struct LessonReport {
    prompt: String,
    /// Greedy parameters at batch 1; batch 4 differs only in `n`.
    generate: GenerateParams,
    /// One train prompt with four responses of distinct scores (so exactly two pairs) and the
    /// toy set's held-out prompts.
    set: PreferenceSet,
    eval: EvalSetup,
    sentences: Vec<String>,
    repeats: usize,
    tokens_per_second_batch_1: f64,
    tokens_per_second_batch_4: f64,
    lane_step_seconds: f64,
    eval_seconds: f64,
    sentences_per_second: f64,
}

/// The bench's preference set: `set`'s first train prompt cut to its first response of each of
/// four distinct scores, with `set`'s held-out prompts.
pub fn lesson_set(mut set: PreferenceSet) -> Result<PreferenceSet> {
    let mut first = set.train.into_iter().next().context("the preference set has no train prompt")?;
    let mut seen: Vec<f64> = Vec::new();
    first.responses.retain(|r| {
        let new = seen.len() < 4 && !seen.contains(&r.score);
        if new {
            seen.push(r.score);
        }
        new
    });
    if first.responses.len() < 4 {
        bail!("the first train prompt needs responses of four distinct scores");
    }
    set.train = vec![first];
    set.description = "deviate bench lesson: two pairs".into();
    Ok(set)
}

/// Median seconds of `repeats` runs of `run` after one warm-up run.
fn seconds<F: Future<Output = Result<()>>>(repeats: usize, mut run: impl FnMut() -> F) -> Result<f64> {
    pollster::block_on(run())?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        pollster::block_on(run())?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

/// What `deviate bench lesson` measures with.
pub struct LessonArgs {
    pub data: PathBuf,
    /// New tokens per continuation in the generation figures.
    pub tokens: usize,
    /// Sentences in the MiniLM request.
    pub sentences: usize,
    pub repeats: usize,
    pub json: bool,
}

pub fn run(models_dir: &Path, device: &Device, label: &str, args: &LessonArgs) -> Result<()> {
    let LessonArgs { ref data, tokens, sentences: count, repeats, json } = *args;
    let (lm, embedder) = (&models::language_model(models_dir, device)?, &models::embedder(models_dir, device)?);
    let set = &lesson_set(load_set(data)?)?;
    let greedy = SamplingParams { temperature: 0.0, ..Default::default() };
    let generate = GenerateParams { n: 1, max_tokens: tokens, min_tokens: tokens, sampling: greedy, raw: false };
    let rate = |n: usize| -> Result<f64> {
        let params = &GenerateParams { n, ..generate.clone() };
        let call = move || async move {
            lm.generate(GENERATE_PROMPT, params, |_| ControlFlow::Continue(())).await.map(drop).context("generation failed")
        };
        Ok((n * tokens) as f64 / seconds(repeats, call)?)
    };
    let (batch_1, batch_4) = (rate(1)?, rate(4)?);

    let eval = EvalSetup::default();
    let config = &ExperimentConfig { eval_prompts: eval.prompts, samples: eval.samples, eval_tokens: eval.tokens, ..Default::default() };
    let analysis = pollster::block_on(analyse(embedder, set, &config.weighting))?;
    let pairs = &prepare_pairs(lm, set, &analysis, Method::Ddpo, config)?;
    if pairs.len() != PAIRS {
        bail!("the bench set gave {} pairs, not {PAIRS}", pairs.len());
    }
    // Each step trains on the session's next batch (the same two pairs here), as a lane does.
    let mut trainer = Trainer::new(lm.model(), Method::Ddpo, TrainConfig::default(), device);
    let mut times = Vec::with_capacity(repeats);
    for step in 1..=repeats + 1 {
        let tokens: Vec<_> = batch(pairs, step, PAIRS).into_iter().map(|p| p.tokens).collect();
        let start = Instant::now();
        pollster::block_on(trainer.step(&tokens)).context("the training step failed")?;
        if step > 1 {
            times.push(start.elapsed().as_secs_f64()); // step 1 is the warm-up
        }
    }
    let lane_step = median(times);
    let eval_seconds = seconds(repeats, move || async move {
        evaluate(lm, embedder, lm.model(), set, config, None, 0).await.map(drop).context("the evaluation failed")
    })?;
    let texts = &sentences(count);
    let embed = seconds(repeats, move || async move { embedder.embed(texts).await.map(drop).context("embedding failed") })?;

    let report = LessonReport {
        prompt: GENERATE_PROMPT.into(),
        generate,
        set: set.clone(),
        eval: eval.clone(),
        sentences: texts.clone(),
        repeats,
        tokens_per_second_batch_1: batch_1,
        tokens_per_second_batch_4: batch_4,
        lane_step_seconds: lane_step,
        eval_seconds,
        sentences_per_second: count as f64 / embed,
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("deviate lesson figures ({label}, median of {repeats} after a warm-up):");
        println!("  greedy batch 1: {:7.2} tokens/s ({tokens} tokens)", report.tokens_per_second_batch_1);
        println!("  greedy batch 4: {:7.2} tokens/s", report.tokens_per_second_batch_4);
        println!("  DDPO lane-step: {:7.2} s ({PAIRS} pairs)", report.lane_step_seconds);
        println!("  evaluation:     {:7.2} s ({} prompts × {} samples × {} tokens)", report.eval_seconds, eval.prompts, eval.samples, eval.tokens);
        println!("  MiniLM:         {:7.2} sentences/s ({count} in one request)", report.sentences_per_second);
    }
    Ok(())
}
