//! `deviate experiment`: every method on the same data, seed and schedule, for one seed or
//! several; progress on stderr, a table (and the paired comparisons in words) on stdout, the
//! full report as JSON or the table as CSV with `--out`.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::core::dataset::PreferenceSet;
use deviate::engine::compare::{self, PairedRow, RunRow};
use deviate::engine::experiment::{ExperimentConfig, ExperimentEvent, ExperimentReport};
use deviate::engine::runner;
use deviate::engine::train::Method;
use serde::{Deserialize, Serialize};

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

/// Runs the experiment for each seed (`seeds` as in `--seeds`, else `config.seed`), prints the
/// rows and the paired comparisons, and writes the report.
pub fn run(config: &ExperimentConfig, seeds: Option<&str>, data: &Path, out: Option<PathBuf>, models_dir: &Path, device: &Device) -> Result<()> {
    let seeds = match seeds {
        Some(list) => compare::parse_seeds(list).map_err(|e| anyhow::anyhow!("--seeds: {e}"))?,
        None => vec![config.seed],
    };
    let set = load_set(data)?;
    let lm = models::language_model(models_dir, device)?;
    let embedder = models::embedder(models_dir, device)?;
    let started = std::time::Instant::now();
    let mut reports = Vec::new();
    for &seed in &seeds {
        let config = ExperimentConfig { seed, ..config.clone() };
        let report = pollster::block_on(runner::run(&lm, &embedder, &set, &config, |event| {
            eprintln!("[{:7.1}s] seed {seed}: {}", started.elapsed().as_secs_f64(), progress(event));
            ControlFlow::Continue(())
        }))
        .with_context(|| format!("the experiment failed (seed {seed})"))?;
        reports.push(SeedReport { seed, report });
    }
    let runs: Vec<RunRow> = reports.iter().flat_map(|r| compare::runs(r.seed, &r.report)).collect();
    let paired = compare::paired(&config.methods, &seeds, &runs);
    let full = FullReport { config: config.clone(), seeds, runs, paired, reports };
    print!("{}", summary(&full));
    if let Some(path) = out {
        let text = if path.extension().is_some_and(|e| e == "csv") { csv(&full) } else { serde_json::to_string_pretty(&full)? };
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Merges the reports `deviate experiment --out` wrote (e.g. DPO and DDPO in one run, ORPO and
/// DORPO in another, or seeds run on different machines) and compares every two methods over
/// the seeds they share, exactly as one run over all of them would.
pub fn compare(files: &[PathBuf], out: Option<PathBuf>) -> Result<()> {
    let mut merged: Option<FullReport> = None;
    for path in files {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let next: FullReport = serde_json::from_str(&text).with_context(|| format!("{}: not a report of deviate experiment --out", path.display()))?;
        merged = Some(match merged {
            None => next,
            Some(mut full) => {
                let fresh: Vec<RunRow> = next.runs.into_iter().filter(|r| !next_seen(&full.runs, r)).collect();
                full.runs.extend(fresh);
                let fresh: Vec<SeedReport> = next
                    .reports
                    .into_iter()
                    .filter(|n| !full.reports.iter().any(|r| r.seed == n.seed && r.report.config.methods == n.report.config.methods))
                    .collect();
                full.reports.extend(fresh);
                full.seeds.extend(next.seeds);
                full.config.methods.extend(next.config.methods);
                full
            }
        });
    }
    let mut full = merged.context("name at least one report")?;
    full.seeds.sort_unstable();
    full.seeds.dedup();
    full.config.methods.sort_by_key(|m| Method::ALL.iter().position(|x| x == m));
    full.config.methods.dedup();
    full.runs.sort_by_key(|r| (r.seed, Method::ALL.iter().position(|m| *m == r.method), r.step));
    full.paired = compare::paired(&full.config.methods, &full.seeds, &full.runs);
    print!("{}", summary(&full));
    if let Some(path) = out {
        std::fs::write(&path, serde_json::to_string_pretty(&full)?).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Whether `rows` already hold `row`'s seed, method and step.
fn next_seen(rows: &[RunRow], row: &RunRow) -> bool {
    rows.iter().any(|r| (r.seed, r.method, r.step) == (row.seed, row.method, row.step))
}

/// One seed's full report (every step's TRL metrics, every evaluation and probe).
#[derive(Serialize, Deserialize)]
struct SeedReport {
    seed: u64,
    #[serde(flatten)]
    report: ExperimentReport,
}

/// What `--out` holds: the rows, the paired comparisons, and every seed's report.
#[derive(Serialize, Deserialize)]
struct FullReport {
    config: ExperimentConfig,
    seeds: Vec<u64>,
    runs: Vec<RunRow>,
    paired: Vec<PairedRow>,
    reports: Vec<SeedReport>,
}

fn progress(event: &ExperimentEvent) -> String {
    match event {
        ExperimentEvent::Prepared { pairs } => format!("{pairs} pairs prepared"),
        ExperimentEvent::Step(record) => match (&record.metrics, &record.rejected) {
            (Some(m), _) => format!(
                "{} step {}: loss {:.4}, margin {:.4}, accuracy {:.2}",
                record.method.name(),
                m.step,
                m.loss,
                m.rewards_margins,
                m.rewards_accuracies
            ),
            (None, why) => format!("{} step rejected: {}", record.method.name(), why.as_deref().unwrap_or("")),
        },
        ExperimentEvent::Eval(e) => format!(
            "eval {} step {}: semantic {:.4}, jaccard {:.4}, ref loglik {:.3}, relevance {:.3}",
            e.method.map_or("base", |m| m.name()),
            e.step,
            e.semantic_diversity,
            e.jaccard_diversity,
            e.reference_loglik,
            e.relevance
        ),
        ExperimentEvent::Probe(p) => format!(
            "probe {} step {}: slope {:+.4}, rare − common {:+.4}",
            p.method.map_or("base", |m| m.name()),
            p.step,
            p.mechanism.slope,
            p.mechanism.rare_minus_common
        ),
    }
}

const HEADER: [&str; 12] =
    ["seed", "method", "step", "slope", "rare-common", "semantic_div", "jaccard_div", "ref_loglik", "relevance", "loss", "margin", "accuracy"];

/// One row per run row, with the method's last TRL metrics up to that step.
fn rows(full: &FullReport) -> Vec<[String; 12]> {
    let cell = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    full.runs
        .iter()
        .map(|r| {
            let report = full.reports.iter().find(|s| s.seed == r.seed && s.report.config.methods.contains(&r.method)).map(|s| &s.report);
            let last = report.and_then(|rep| {
                rep.steps.iter().filter(|s| s.method == r.method).filter_map(|s| s.metrics.as_ref()).rfind(|m| r.step > 0 && m.step <= r.step)
            });
            [
                r.seed.to_string(),
                r.method.name().to_string(),
                r.step.to_string(),
                cell(r.mechanism_slope),
                cell(r.rare_minus_common),
                cell(r.semantic_diversity),
                cell(r.jaccard_diversity),
                cell(r.reference_loglik),
                cell(r.relevance),
                cell(last.map(|m| m.loss)),
                cell(last.map(|m| m.rewards_margins)),
                cell(last.map(|m| m.rewards_accuracies)),
            ]
        })
        .collect()
}

fn summary(full: &FullReport) -> String {
    let mut out = String::new();
    let line = |cells: &[&str]| {
        let widths = [5, 7, 5, 9, 12, 13, 12, 11, 10, 9, 9, 9];
        cells.iter().zip(widths).enumerate().map(|(i, (c, w))| if i < 2 { format!("{c:<w$}") } else { format!("{c:>w$}") }).collect::<String>()
    };
    let _ = writeln!(out, "{}", line(&HEADER));
    for r in rows(full) {
        let _ = writeln!(out, "{}", line(&r.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    if !full.paired.is_empty() {
        let _ = writeln!(out);
        for p in &full.paired {
            let _ = writeln!(out, "{}", p.sentence());
        }
    }
    out
}

fn csv(full: &FullReport) -> String {
    let mut out = HEADER.join(",") + "\n";
    for r in rows(full) {
        out += &(r.join(",") + "\n");
    }
    out
}
