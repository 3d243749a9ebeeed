//! Experiments over several seeds: every method's metrics at every evaluation or probe step
//! (`runs`), and for every two methods the paired differences at the last step (`paired`,
//! formulas in [`crate::core::stats`]).

use serde::{Deserialize, Serialize};

use crate::core::stats::{self, RESAMPLES};
use crate::engine::experiment::ExperimentReport;
use crate::engine::train::Method;

/// Most seeds one command may run.
pub const MAX_SEEDS: usize = 1000;
/// Seeds the bootstrap of every comparison (fixed, so a report is reproducible).
const BOOTSTRAP_SEED: u64 = 20_250_321;

/// One method's numbers at one step of one seed (`None` where nothing was measured then).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub seed: u64,
    pub method: Method,
    pub step: usize,
    pub mechanism_slope: Option<f64>,
    pub rare_minus_common: Option<f64>,
    pub semantic_diversity: Option<f64>,
    pub jaccard_diversity: Option<f64>,
    pub reference_loglik: Option<f64>,
    pub relevance: Option<f64>,
}

/// The metrics compared, in report order, with the words used for them.
pub const METRICS: [(&str, &str); 6] = [
    ("mechanism_slope", "mechanism slope"),
    ("rare_minus_common", "rare − common gain"),
    ("semantic_diversity", "semantic diversity"),
    ("jaccard_diversity", "Jaccard diversity"),
    ("reference_loglik", "reference log-likelihood"),
    ("relevance", "relevance"),
];

impl RunRow {
    fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "mechanism_slope" => self.mechanism_slope,
            "rare_minus_common" => self.rare_minus_common,
            "semantic_diversity" => self.semantic_diversity,
            "jaccard_diversity" => self.jaccard_diversity,
            "reference_loglik" => self.reference_loglik,
            "relevance" => self.relevance,
            _ => None,
        }
    }
}

/// Method `a` minus method `b` on one metric, over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedRow {
    pub metric: String,
    pub a: Method,
    pub b: Method,
    #[serde(flatten)]
    pub stats: stats::Paired,
}

impl PairedRow {
    /// E.g. "DDPO − DPO mechanism slope +0.0800 (95 % CI 0.0500 … 0.1100), DDPO ahead in 9 of 10 seeds".
    pub fn sentence(&self) -> String {
        let words = METRICS.iter().find(|(m, _)| *m == self.metric).map_or(self.metric.as_str(), |(_, w)| w);
        let (a, b) = (self.a.name().to_uppercase(), self.b.name().to_uppercase());
        let s = &self.stats;
        let seeds = if s.n == 1 { "seed" } else { "seeds" };
        format!(
            "{a} − {b} {words} {:+.4} (95 % CI {:.4} … {:.4}), {a} ahead in {} of {} {seeds}",
            s.mean_diff, s.ci95[0], s.ci95[1], s.wins, s.n
        )
    }
}

/// Every method's rows of one seed's report: step 0 (the base model) for each method, then
/// each step at which the method was probed or evaluated.
pub fn runs(seed: u64, report: &ExperimentReport) -> Vec<RunRow> {
    let mut rows = Vec::new();
    for &method in &report.config.methods {
        let mut steps: Vec<usize> = report
            .evals
            .iter()
            .filter(|e| e.method.is_none_or(|m| m == method))
            .map(|e| e.step)
            .chain(report.probes.iter().filter(|p| p.method.is_none_or(|m| m == method)).map(|p| p.step))
            .collect();
        steps.sort_unstable();
        steps.dedup();
        for step in steps {
            let mine = |m: Option<Method>, s: usize| s == step && (if step == 0 { m.is_none() } else { m == Some(method) });
            let eval = report.evals.iter().find(|e| mine(e.method, e.step));
            let probe = report.probes.iter().find(|p| mine(p.method, p.step));
            rows.push(RunRow {
                seed,
                method,
                step,
                mechanism_slope: probe.map(|p| p.mechanism.slope),
                rare_minus_common: probe.map(|p| p.mechanism.rare_minus_common),
                semantic_diversity: eval.map(|e| e.semantic_diversity),
                jaccard_diversity: eval.map(|e| e.jaccard_diversity),
                reference_loglik: eval.map(|e| e.reference_loglik),
                relevance: eval.map(|e| e.relevance),
            });
        }
    }
    rows
}

/// For every two methods (the later one in `methods` minus the earlier one) and every metric,
/// the paired comparison of their values at their last step, over the seeds where both have it.
pub fn paired(methods: &[Method], seeds: &[u64], rows: &[RunRow]) -> Vec<PairedRow> {
    let last = |seed: u64, method: Method, metric: &str| {
        rows.iter().filter(|r| r.seed == seed && r.method == method).filter_map(|r| Some((r.step, r.metric(metric)?))).max_by_key(|x| x.0).map(|x| x.1)
    };
    let mut out = Vec::new();
    for (j, &a) in methods.iter().enumerate() {
        for &b in &methods[..j] {
            for (metric, _) in METRICS {
                let (xs, ys): (Vec<f64>, Vec<f64>) = seeds.iter().filter_map(|&s| Some((last(s, a, metric)?, last(s, b, metric)?))).unzip();
                if let Some(stats) = stats::paired(&xs, &ys, RESAMPLES, BOOTSTRAP_SEED) {
                    out.push(PairedRow { metric: metric.into(), a, b, stats });
                }
            }
        }
    }
    out
}

/// Reads a seed list: numbers and inclusive ranges separated by commas, e.g. "0,1,2", "0-9",
/// "0-4,7". Refuses empty items, reversed ranges, repeats and more than [`MAX_SEEDS`] seeds.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("{:?} is not a seed (a whole number ≥ 0)", s.trim()));
    let mut seeds = Vec::new();
    for item in text.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (number(lo)?, number(hi)?),
            None => (number(item)?, number(item)?),
        };
        if lo > hi {
            return Err(format!("the range {lo}-{hi} runs backwards"));
        }
        if hi - lo >= MAX_SEEDS as u64 || seeds.len() + (hi - lo) as usize >= MAX_SEEDS {
            return Err(format!("at most {MAX_SEEDS} seeds"));
        }
        for s in lo..=hi {
            if seeds.contains(&s) {
                return Err(format!("seed {s} is listed twice"));
            }
            seeds.push(s);
        }
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mechanism::Mechanism;
    use crate::engine::experiment::{EvalPoint, ExperimentConfig};
    use crate::engine::probe::ProbePoint;

    #[test]
    fn seed_lists() {
        assert_eq!(parse_seeds("0,1,2").unwrap(), [0, 1, 2]);
        assert_eq!(parse_seeds("0-3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(parse_seeds(" 5, 0-1 ").unwrap(), [5, 0, 1]);
        for (bad, why) in [("", "not a seed"), ("1,,2", "not a seed"), ("a", "not a seed"), ("-1", "not a seed"), ("3-1", "backwards"), ("1,1", "twice"), ("0-5000", "at most")] {
            let err = parse_seeds(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    fn eval(method: Option<Method>, step: usize, semantic: f64) -> EvalPoint {
        EvalPoint { method, step, semantic_diversity: semantic, jaccard_diversity: 0.9, reference_loglik: -3.0, relevance: 0.4, texts: Vec::new() }
    }

    fn probe(method: Option<Method>, step: usize, slope: f64) -> ProbePoint {
        ProbePoint { method, step, mechanism: Mechanism { slope, ..Mechanism::default() }, gains: Vec::new() }
    }

    fn report(ddpo_slope: f64) -> ExperimentReport {
        let config = ExperimentConfig { methods: vec![Method::Dpo, Method::Ddpo], ..ExperimentConfig::default() };
        ExperimentReport {
            config,
            steps: Vec::new(),
            evals: vec![eval(None, 0, 0.5), eval(Some(Method::Dpo), 2, 0.6), eval(Some(Method::Ddpo), 2, 0.7)],
            probes: vec![probe(None, 0, 0.0), probe(Some(Method::Dpo), 2, 0.1), probe(Some(Method::Ddpo), 2, ddpo_slope)],
        }
    }

    #[test]
    fn runs_hold_step_zero_for_every_method_and_paired_compares_the_last_step() {
        let rows: Vec<RunRow> = [(0, report(0.3)), (1, report(0.0))].iter().flat_map(|(s, r)| runs(*s, r)).collect();
        assert_eq!(rows.len(), 8);
        assert_eq!((rows[0].method, rows[0].step, rows[0].mechanism_slope, rows[0].semantic_diversity), (Method::Dpo, 0, Some(0.0), Some(0.5)));
        assert_eq!((rows[3].method, rows[3].step, rows[3].mechanism_slope), (Method::Ddpo, 2, Some(0.3)));
        let paired = paired(&[Method::Dpo, Method::Ddpo], &[0, 1], &rows);
        assert_eq!(paired.len(), METRICS.len());
        let slope = &paired[0];
        assert_eq!((slope.metric.as_str(), slope.a, slope.b, slope.stats.n, slope.stats.wins), ("mechanism_slope", Method::Ddpo, Method::Dpo, 2, 1));
        assert!((slope.stats.mean_diff - 0.05).abs() < 1e-12);
        assert!((slope.stats.ci95[0] + 0.1).abs() < 1e-12 && (slope.stats.ci95[1] - 0.2).abs() < 1e-12, "{slope:?}");
        assert_eq!(slope.sentence(), "DDPO − DPO mechanism slope +0.0500 (95 % CI -0.1000 … 0.2000), DDPO ahead in 1 of 2 seeds");
        let semantic = paired.iter().find(|p| p.metric == "semantic_diversity").unwrap();
        assert!((semantic.stats.mean_diff - 0.1).abs() < 1e-12 && semantic.stats.wins == 2);
    }
}
