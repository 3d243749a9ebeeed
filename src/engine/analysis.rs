//! The training prompts' deviations and weights, each prompt analysed the first time a task
//! needs it. A prompt's numbers come from its own responses only (one MiniLM batch of them), so
//! analysing it late, or alone, gives the numbers analysing every prompt at once gives; a run
//! that trains on the first few prompts embeds only those.

use serde::{Deserialize, Serialize};

use crate::core::dataset::PreferenceSet;
use crate::core::records::PromptDeviation;
use crate::core::similarity::SimilarityKind;
use crate::engine::embed::Embedder;
use crate::engine::prompts::{ExperimentError, engine};
use crate::engine::similarity::distances;

/// How deviations become weights: the similarity they are computed from (the paper's
/// variants: semantic, style, or both) and an optional floor under every weight (the paper's
/// ablation, e.g. 0.2; see [`crate::core::deviation::weights`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weighting {
    pub similarity: SimilarityKind,
    pub min_weight: Option<f64>,
}

impl Default for Weighting {
    fn default() -> Self {
        Self { similarity: SimilarityKind::Semantic, min_weight: None }
    }
}

impl Weighting {
    /// The similarities training weights may use (Jaccard is the page's model-free view only).
    pub const KINDS: [SimilarityKind; 3] = [SimilarityKind::Semantic, SimilarityKind::Style, SimilarityKind::Both];

    /// Why these settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if !Self::KINDS.contains(&self.similarity) {
            return Err(format!("weights come from semantic, style or both similarity, not {}", self.similarity));
        }
        if self.min_weight.is_some_and(|w| !(0.0..=1.0).contains(&w)) {
            return Err("the weight floor must be between 0 and 1".into());
        }
        Ok(())
    }
}

/// Each training prompt's analysis, or `None` until a task needs it.
#[derive(Clone, Debug)]
pub struct Analysis {
    weighting: Weighting,
    prompts: Vec<Option<PromptDeviation>>,
}

impl Analysis {
    /// Nothing analysed yet, for the training prompts of `set`.
    pub fn new(set: &PreferenceSet, weighting: &Weighting) -> Self {
        Self { weighting: weighting.clone(), prompts: vec![None; set.train.len()] }
    }

    /// Analyses each of `prompts` not analysed yet, in the order given.
    pub async fn cover(&mut self, embedder: &Embedder, set: &PreferenceSet, prompts: impl IntoIterator<Item = usize>) -> Result<(), ExperimentError> {
        for i in prompts {
            let missing = self.prompts.get(i).ok_or_else(|| ExperimentError::Engine(format!("no training prompt {i}")))?.is_none();
            if missing {
                self.prompts[i] = Some(analyse_prompt(embedder, set, &self.weighting, i).await?);
            }
        }
        Ok(())
    }

    /// Analyses every prompt not analysed yet.
    pub async fn cover_all(&mut self, embedder: &Embedder, set: &PreferenceSet) -> Result<(), ExperimentError> {
        self.cover(embedder, set, 0..self.prompts.len()).await
    }

    /// Prompt `i`'s analysis; an error if no task has asked for it yet.
    pub fn prompt(&self, i: usize) -> Result<&PromptDeviation, ExperimentError> {
        self.prompts.get(i).and_then(Option::as_ref).ok_or_else(|| ExperimentError::Engine(format!("training prompt {i} was not analysed")))
    }

    /// How many prompts are analysed.
    pub fn analysed(&self) -> usize {
        self.prompts.iter().filter(|p| p.is_some()).count()
    }

    /// Every prompt's analysis, in the set's order, once all are analysed.
    pub fn into_all(self) -> Result<Vec<PromptDeviation>, ExperimentError> {
        self.prompts.into_iter().enumerate().map(|(i, p)| p.ok_or_else(|| ExperimentError::Engine(format!("training prompt {i} was not analysed")))).collect()
    }
}

/// Deviation and weight of training prompt `i`'s responses, from the similarity and with the
/// floor that `weighting` names.
async fn analyse_prompt(embedder: &Embedder, set: &PreferenceSet, weighting: &Weighting, i: usize) -> Result<PromptDeviation, ExperimentError> {
    let p = &set.train[i];
    let texts: Vec<&str> = p.responses.iter().map(|r| r.text.as_str()).collect();
    let (kinds, _) = distances(weighting.similarity, &texts, embedder.device(), Some(embedder)).await.map_err(engine)?;
    Ok(PromptDeviation::from_distances(p.prompt.clone(), &kinds, weighting.min_weight))
}

/// Deviation and weight of every training response, per prompt (every prompt analysed now).
pub async fn analyse(embedder: &Embedder, set: &PreferenceSet, weighting: &Weighting) -> Result<Vec<PromptDeviation>, ExperimentError> {
    let mut analysis = Analysis::new(set, weighting);
    analysis.cover_all(embedder, set).await?;
    analysis.into_all()
}
