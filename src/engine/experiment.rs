//! Experiments: the same data, seed and schedule for every method. Each training prompt's
//! responses are embedded (MiniLM) for their deviations and weights; pairs follow the method
//! (score-gap pairs, or DivPO's); every `eval_every` steps the policy writes `samples` seeded
//! continuations per held-out prompt, scored for diversity and quality.

use serde::{Deserialize, Serialize};

use crate::core::dataset::PreferenceSet;
use crate::core::deviation::DistanceMatrix;
use crate::core::jaccard::jaccard_distances;
use crate::core::pairs::{Pair, divpo_pair, score_pairs};
use crate::core::records::PromptDeviation;
use crate::core::sampling::SamplingParams;
use crate::engine::embed::Embedder;
use crate::engine::generate::{GenerateParams, Generation, LanguageModel};
use crate::engine::probe::{PROBE_PROMPTS, ProbePoint};
pub use crate::engine::analysis::{Weighting, analyse};
pub use crate::engine::prompts::{ExperimentError, prompt_order, response_tokens};
use crate::engine::prompts::engine;
use crate::engine::logps::mean_completion_logps;
use crate::engine::train::{Method, PairTokens, StepMetrics, TrainConfig};
use crate::model::llama::{Adapters, Llama};

/// What an experiment runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentConfig {
    pub methods: Vec<Method>,
    pub steps: usize,
    pub eval_every: usize,
    pub seed: u64,
    pub pairs_per_step: usize,
    /// Least score difference of a pair (the paper's gap); smaller gaps are a fallback.
    pub gap: f64,
    /// Continuations per held-out prompt at each evaluation.
    pub samples: usize,
    /// Held-out prompts used (from the start of the list).
    pub eval_prompts: usize,
    pub eval_tokens: usize,
    /// Run the mechanism probe at step 0 and every this many steps (0: never).
    pub probe_every: usize,
    /// Training prompts whose good responses are probed (see [`crate::engine::probe`]).
    pub probe_prompts: usize,
    pub sampling: SamplingParams,
    pub train: TrainConfig,
    /// How the training responses' deviations become the pairs' weights.
    pub weighting: Weighting,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            methods: vec![Method::Dpo, Method::Ddpo],
            steps: 8,
            eval_every: 4,
            seed: 0,
            pairs_per_step: 4,
            gap: 1.0,
            samples: 4,
            eval_prompts: 8,
            eval_tokens: 40,
            probe_every: 0,
            probe_prompts: PROBE_PROMPTS,
            sampling: SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, repetition_penalty: 1.0, seed: 0 },
            train: TrainConfig::default(),
            weighting: Weighting::default(),
        }
    }
}

/// One evaluation of a policy: diversity and quality over the held-out prompts (means).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// `None` for the base model (step 0, shared by every method).
    pub method: Option<Method>,
    pub step: usize,
    /// Mean pairwise cosine distance of a prompt's continuations (MiniLM).
    #[serde(with = "crate::core::float")]
    pub semantic_diversity: f64,
    /// Mean pairwise token-Jaccard distance.
    #[serde(with = "crate::core::float")]
    pub jaccard_diversity: f64,
    /// Mean per-token log-likelihood of the continuations under the reference (base) model.
    #[serde(with = "crate::core::float")]
    pub reference_loglik: f64,
    /// Mean cosine of prompt and continuation embeddings.
    #[serde(with = "crate::core::float")]
    pub relevance: f64,
    /// The first held-out prompt's continuations (what the page shows as before/after).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<String>,
}

/// One training step's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub method: Method,
    #[serde(flatten)]
    pub metrics: Option<StepMetrics>,
    /// Why the step was rejected, when it was.
    pub rejected: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    pub config: ExperimentConfig,
    pub steps: Vec<StepRecord>,
    pub evals: Vec<EvalPoint>,
    #[serde(default)]
    pub probes: Vec<ProbePoint>,
}

impl ExperimentReport {
    /// Files `event` under its kind (a step, an evaluation or a probe).
    pub fn add(&mut self, event: ExperimentEvent) {
        match event {
            ExperimentEvent::Step(r) => self.steps.push(r),
            ExperimentEvent::Eval(e) => self.evals.push(e),
            ExperimentEvent::Probe(p) => self.probes.push(p),
            ExperimentEvent::Prepared { .. } => {}
        }
    }
}

/// What the experiment reports while it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum ExperimentEvent {
    Prepared { pairs: usize },
    Step(StepRecord),
    Eval(EvalPoint),
    Probe(ProbePoint),
}

fn widen(vectors: &[Vec<f32>]) -> Vec<Vec<f64>> {
    vectors.iter().map(|v| v.iter().map(|&x| x as f64).collect()).collect()
}

/// A pair ready to train on, with the numbers the page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedPair {
    pub prompt: usize,
    pub pair: Pair,
    pub weight: f64,
    pub deviation_chosen: f64,
    pub tokens: PairTokens,
}

impl PreparedPair {
    /// The pair's prompt, chosen and rejected texts in `set` (the set it was prepared from).
    pub fn texts(&self, set: &PreferenceSet) -> (String, String, String) {
        let prompt = &set.train[self.prompt];
        (prompt.prompt.clone(), prompt.responses[self.pair.chosen].text.clone(), prompt.responses[self.pair.rejected].text.clone())
    }
}

/// A pair `method` will train on, tokenised, before its prompt's analysis gives its weight.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedPair {
    pub prompt: usize,
    pub pair: Pair,
    tokens: PairTokens,
}

impl PlannedPair {
    /// The pair with its weight and its chosen response's deviation from `analysis`, the
    /// analysis of its prompt.
    pub fn weigh(&self, analysis: &PromptDeviation) -> PreparedPair {
        let weight = analysis.weight[self.pair.chosen];
        let tokens = PairTokens { weight, ..self.tokens.clone() };
        PreparedPair { prompt: self.prompt, pair: self.pair, weight, deviation_chosen: analysis.deviation[self.pair.chosen], tokens }
    }
}

/// The pairs `method` trains on, in a seeded order shared by every method, not yet weighed.
/// Score-gap pairs depend on the scores only; DivPO's pairs on the deviations too, so DivPO
/// needs `analysis` (every prompt's), and the other methods ignore it.
pub fn plan_pairs(
    lm: &LanguageModel,
    set: &PreferenceSet,
    analysis: Option<&[PromptDeviation]>,
    method: Method,
    config: &ExperimentConfig,
) -> Result<Vec<PlannedPair>, ExperimentError> {
    let mut pairs = Vec::new();
    for (i, p) in set.train.iter().enumerate() {
        let scores: Vec<f64> = p.responses.iter().map(|r| r.score).collect();
        let chosen_pairs = if method == Method::Divpo {
            let a = analysis.and_then(|a| a.get(i)).ok_or_else(|| ExperimentError::Engine("DivPO's pairs need every prompt's deviations".into()))?;
            divpo_pair(&scores, &a.deviation).into_iter().collect()
        } else {
            score_pairs(&scores, config.gap, config.seed.wrapping_mul(1_000_003).wrapping_add(i as u64))
        };
        for pair in chosen_pairs {
            let (prompt, chosen) = response_tokens(lm, &p.prompt, &p.responses[pair.chosen].text)?;
            let (_, rejected) = response_tokens(lm, &p.prompt, &p.responses[pair.rejected].text)?;
            let key = (i as u64) << 32 | (pair.chosen as u64) << 16 | pair.rejected as u64;
            let tokens = PairTokens { key, prompt, chosen, rejected, weight: 1.0 };
            pairs.push(PlannedPair { prompt: i, pair, tokens });
        }
    }
    // Every method meets the prompts in the same seeded order.
    let mut rank = vec![0; set.train.len()];
    for (pos, prompt) in prompt_order(set.train.len(), config.seed).into_iter().enumerate() {
        rank[prompt] = pos;
    }
    pairs.sort_by_key(|p| (rank[p.prompt], p.pair.chosen, p.pair.rejected));
    if pairs.is_empty() {
        return Err(ExperimentError::NoPairs(method));
    }
    Ok(pairs)
}

/// The pairs `method` trains on, weighed by `analysis` (every prompt's).
pub fn prepare_pairs(
    lm: &LanguageModel,
    set: &PreferenceSet,
    analysis: &[PromptDeviation],
    method: Method,
    config: &ExperimentConfig,
) -> Result<Vec<PreparedPair>, ExperimentError> {
    Ok(plan_pairs(lm, set, Some(analysis), method, config)?.iter().map(|p| p.weigh(&analysis[p.prompt])).collect())
}

/// The batch of step `step` (1-based): the next `size` pairs, wrapping around.
pub fn batch<T: Clone>(pairs: &[T], step: usize, size: usize) -> Vec<T> {
    (0..size.min(pairs.len())).map(|k| pairs[((step - 1) * size + k) % pairs.len()].clone()).collect()
}

fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values.into_iter().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

fn mean_offdiagonal(m: &DistanceMatrix) -> f64 {
    let n = m.len();
    mean((0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| m.get(i, j)))
}

/// One held-out prompt's scores (see [`EvalPoint`] for what each one means).
#[derive(Clone, Debug, PartialEq)]
pub struct PromptScores {
    pub semantic_diversity: f64,
    pub jaccard_diversity: f64,
    pub reference_loglik: f64,
    pub relevance: f64,
    /// The continuations scored.
    pub texts: Vec<String>,
}

impl EvalPoint {
    /// The means of the prompts' scores.
    pub fn from_prompts(method: Option<Method>, step: usize, prompts: &[PromptScores]) -> Self {
        let of = |f: fn(&PromptScores) -> f64| mean(prompts.iter().map(f));
        Self {
            method,
            step,
            semantic_diversity: of(|p| p.semantic_diversity),
            jaccard_diversity: of(|p| p.jaccard_diversity),
            reference_loglik: of(|p| p.reference_loglik),
            relevance: of(|p| p.relevance),
            texts: prompts.first().map(|p| p.texts.clone()).unwrap_or_default(),
        }
    }
}

/// Scores `policy` on held-out prompt `index`: `config.samples` continuations of
/// `config.eval_tokens` tokens, seeded by `config.seed + index`.
pub async fn evaluate_prompt(
    lm: &LanguageModel,
    embedder: &Embedder,
    policy: &Llama,
    set: &PreferenceSet,
    config: &ExperimentConfig,
    index: usize,
) -> Result<PromptScores, ExperimentError> {
    let held = set.heldout.get(index).ok_or_else(|| ExperimentError::Engine(format!("no held-out prompt {index}")))?;
    let sampling = SamplingParams { seed: config.seed.wrapping_add(index as u64), ..config.sampling.clone() };
    let params = GenerateParams { n: config.samples, max_tokens: config.eval_tokens, min_tokens: 0, sampling, raw: false };
    let mut run = Generation::start_with(lm, policy, &held.prompt, &params).await.map_err(engine)?;
    let prompt_ids = run.prompt_ids().to_vec();
    while !run.is_done() {
        run.step().await.map_err(engine)?;
    }
    let continuations = run.into_continuations();
    let owned: Vec<String> = continuations.iter().map(|c| c.text.clone()).collect();
    let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
    let mut with_prompt = vec![held.prompt.as_str()];
    with_prompt.extend(&texts);
    let vectors = embedder.embed(&with_prompt).await.map_err(engine)?.vectors;
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x * y) as f64).sum::<f64>();
    let jaccard_diversity = mean_offdiagonal(&jaccard_distances(&texts));
    let ids: Vec<Vec<u32>> = continuations.into_iter().map(|c| c.token_ids).filter(|ids| !ids.is_empty()).collect();
    let logps = mean_completion_logps(lm.model(), &prompt_ids, &ids, Adapters::Off, lm.device()).await.map_err(engine)?;
    Ok(PromptScores {
        semantic_diversity: mean_offdiagonal(&DistanceMatrix::cosine(&widen(&vectors[1..]))),
        jaccard_diversity,
        reference_loglik: mean(logps.iter().map(|&l| l as f64)),
        relevance: mean(vectors[1..].iter().map(|v| dot(&vectors[0], v))),
        texts: owned,
    })
}

/// Scores `policy` on the first `config.eval_prompts` held-out prompts.
pub async fn evaluate(
    lm: &LanguageModel,
    embedder: &Embedder,
    policy: &Llama,
    set: &PreferenceSet,
    config: &ExperimentConfig,
    method: Option<Method>,
    step: usize,
) -> Result<EvalPoint, ExperimentError> {
    let mut prompts = Vec::new();
    for index in 0..config.eval_prompts.min(set.heldout.len()) {
        prompts.push(evaluate_prompt(lm, embedder, policy, set, config, index).await?);
    }
    Ok(EvalPoint::from_prompts(method, step, &prompts))
}
