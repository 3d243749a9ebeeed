//! `deviate experiment`: every method on the same data, seed and schedule; progress on stderr,
//! a summary table on stdout, the full report as JSON or CSV with `--out`.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::core::dataset::PreferenceSet;
use deviate::engine::experiment::{self, ExperimentConfig, ExperimentEvent, ExperimentReport};

use crate::models;

/// A preference set: the JSON schema of www/data/, or TRL preference rows (`.jsonl`).
pub fn load_set(path: &Path) -> Result<PreferenceSet> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let set = if path.extension().is_some_and(|e| e == "jsonl") {
        PreferenceSet::from_trl_jsonl(&text)
    } else {
        PreferenceSet::from_json(&text)
    };
    set.with_context(|| format!("{}", path.display()))
}

pub fn run(config: &ExperimentConfig, data: &Path, out: Option<PathBuf>, models_dir: &Path) -> Result<()> {
    let set = load_set(data)?;
    let device = Device::flex();
    let lm = models::language_model(models_dir, &device)?;
    let embedder = models::embedder(models_dir, &device)?;
    let started = std::time::Instant::now();
    let report = pollster::block_on(experiment::run(&lm, &embedder, &set, config, |event| {
        let t = started.elapsed().as_secs_f64();
        match event {
            ExperimentEvent::Prepared { pairs } => eprintln!("[{t:7.1}s] {pairs} pairs prepared"),
            ExperimentEvent::Step(record) => match (&record.metrics, &record.rejected) {
                (Some(m), _) => eprintln!(
                    "[{t:7.1}s] {} step {}: loss {:.4}, margin {:.4}, accuracy {:.2}",
                    record.method.name(),
                    m.step,
                    m.loss,
                    m.rewards_margins,
                    m.rewards_accuracies
                ),
                (None, why) => eprintln!("[{t:7.1}s] {} step rejected: {}", record.method.name(), why.as_deref().unwrap_or("")),
            },
            ExperimentEvent::Eval(e) => eprintln!(
                "[{t:7.1}s] eval {} step {}: semantic {:.4}, jaccard {:.4}, ref loglik {:.3}, relevance {:.3}",
                e.method.map_or("base", |m| m.name()),
                e.step,
                e.semantic_diversity,
                e.jaccard_diversity,
                e.reference_loglik,
                e.relevance
            ),
        }
        ControlFlow::Continue(())
    }))
    .context("the experiment failed")?;
    print!("{}", summary(&report));
    if let Some(path) = out {
        let text = if path.extension().is_some_and(|e| e == "csv") { csv(&report) } else { serde_json::to_string_pretty(&report)? };
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// One row per evaluation, with the last step's TRL metrics of that method up to it.
fn rows(report: &ExperimentReport) -> Vec<[String; 9]> {
    report
        .evals
        .iter()
        .map(|e| {
            let last = e.method.and_then(|m| {
                report.steps.iter().filter(|s| s.method == m).filter_map(|s| s.metrics.as_ref()).rfind(|s| s.step <= e.step)
            });
            let metric = |f: fn(&deviate::engine::train::StepMetrics) -> f64| last.map_or("-".to_string(), |m| format!("{:.4}", f(m)));
            [
                e.method.map_or("base", |m| m.name()).to_string(),
                e.step.to_string(),
                format!("{:.4}", e.semantic_diversity),
                format!("{:.4}", e.jaccard_diversity),
                format!("{:.4}", e.reference_loglik),
                format!("{:.4}", e.relevance),
                metric(|m| m.loss),
                metric(|m| m.rewards_margins),
                metric(|m| m.rewards_accuracies),
            ]
        })
        .collect()
}

const HEADER: [&str; 9] = ["method", "step", "semantic_div", "jaccard_div", "ref_loglik", "relevance", "loss", "margin", "accuracy"];

fn summary(report: &ExperimentReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<7}{:>5}{:>14}{:>13}{:>12}{:>11}{:>9}{:>9}{:>10}", HEADER[0], HEADER[1], HEADER[2], HEADER[3], HEADER[4], HEADER[5], HEADER[6], HEADER[7], HEADER[8]);
    for r in rows(report) {
        let _ = writeln!(out, "{:<7}{:>5}{:>14}{:>13}{:>12}{:>11}{:>9}{:>9}{:>10}", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
    }
    out
}

fn csv(report: &ExperimentReport) -> String {
    let mut out = HEADER.join(",") + "\n";
    for r in rows(report) {
        out += &(r.join(",") + "\n");
    }
    out
}
