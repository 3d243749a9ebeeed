//! A learner's own data, kept by the page (localStorage) and exported/imported as JSON: the
//! experiment they last had open, their ratings of continuations, and their run history.
//! Rated continuations become a preference set to train on.
//!
//! Export format, version 1: `{"version": 1, "experiment": {…Experiment…}, "ratings":
//! [{"prompt", "text", "score"}], "history": [{…RunSummary…}]}`.

use serde::{Deserialize, Serialize};

use crate::core::dataset::{HeldOutPrompt, PreferenceSet, ScoredResponse, TrainPrompt, VERSION as SET_VERSION};
use crate::engine::experiment::EvalPoint;
use crate::engine::link::{Experiment, MAX_TEXT_CHARS};
use crate::engine::train::Method;

pub const LEARNER_VERSION: u32 = 1;
/// Largest import accepted, in bytes (checked before the file is read).
pub const MAX_IMPORT_BYTES: u64 = 2 * 1024 * 1024;
pub const MAX_RATINGS: usize = 500;
pub const MAX_HISTORY: usize = 50;
/// Ratings run from 1 (worst) to this.
pub const MAX_SCORE: u8 = 5;

/// A learner's score for one continuation of a prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub prompt: String,
    pub text: String,
    pub score: u8,
}

/// One lane's state at the end of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaneSummary {
    pub method: Method,
    pub loss: f64,
    pub margin: f64,
    pub accuracy: f64,
    pub eval: Option<EvalPoint>,
}

/// A training run as the history keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// When it ended (ISO 8601, the browser's clock).
    pub ended: String,
    pub steps: usize,
    pub seed: u64,
    /// "toy" or "ratings".
    pub data: String,
    pub lanes: Vec<LaneSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnerData {
    pub version: u32,
    pub experiment: Experiment,
    pub ratings: Vec<Rating>,
    pub history: Vec<RunSummary>,
    /// The address's link when `experiment` grew past a link's bound: a reload that finds this
    /// link opens the stored experiment, not the older one the link holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_outgrown: Option<String>,
}

impl Default for LearnerData {
    fn default() -> Self {
        Self { version: LEARNER_VERSION, experiment: Experiment::default(), ratings: Vec::new(), history: Vec::new(), link_outgrown: None }
    }
}

impl LearnerData {
    /// Reads an export (or the page's stored copy), refusing what this build cannot use.
    pub fn from_json(json: &str) -> Result<Self, String> {
        if json.len() as u64 > MAX_IMPORT_BYTES {
            return Err(format!("the file is {} bytes; at most {MAX_IMPORT_BYTES}", json.len()));
        }
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not a Deviate export: {e}"))?;
        if !value.is_object() {
            return Err("not a Deviate export: expected a JSON object".into());
        }
        let data: Self = serde_json::from_value(value).map_err(|e| format!("not a Deviate export: {e}"))?;
        if data.version != LEARNER_VERSION {
            return Err(format!("export version {} is not supported (this page reads version {LEARNER_VERSION})", data.version));
        }
        data.experiment.check()?;
        if data.link_outgrown.as_ref().is_some_and(|l| l.len() > crate::engine::link::MAX_LINK_CHARS) {
            return Err("the outgrown link is longer than any link".into());
        }
        if data.ratings.len() > MAX_RATINGS || data.history.len() > MAX_HISTORY {
            return Err(format!("at most {MAX_RATINGS} ratings and {MAX_HISTORY} runs"));
        }
        for r in &data.ratings {
            if !(1..=MAX_SCORE).contains(&r.score) || r.text.trim().is_empty() || r.prompt.len() + r.text.len() > MAX_TEXT_CHARS {
                return Err(format!("a rating must score a non-empty continuation from 1 to {MAX_SCORE}"));
            }
        }
        Ok(data)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("learner data is plain data")
    }

    /// Sets the learner's score for `text` (replacing an earlier one); `None` removes it.
    /// Nothing changes when the new score is refused.
    pub fn rate(&mut self, prompt: &str, text: &str, score: Option<u8>) -> Result<(), String> {
        let earlier = self.ratings.iter().position(|r| r.prompt == prompt && r.text == text);
        let Some(score) = score else {
            if let Some(i) = earlier {
                self.ratings.remove(i);
            }
            return Ok(());
        };
        if !(1..=MAX_SCORE).contains(&score) || text.trim().is_empty() || prompt.len() + text.len() > MAX_TEXT_CHARS {
            return Err(format!("a rating scores a non-empty continuation from 1 to {MAX_SCORE}"));
        }
        let rating = Rating { prompt: prompt.into(), text: text.into(), score };
        match earlier {
            Some(i) => self.ratings[i] = rating,
            None if self.ratings.len() >= MAX_RATINGS => {
                return Err(format!("at most {MAX_RATINGS} ratings are kept; export and clear some first"));
            }
            None => self.ratings.push(rating),
        }
        Ok(())
    }

    /// Adds a run to the history, dropping the oldest beyond [`MAX_HISTORY`].
    pub fn record(&mut self, run: RunSummary) {
        self.history.push(run);
        let extra = self.history.len().saturating_sub(MAX_HISTORY);
        self.history.drain(..extra);
    }
}

/// The learner's ratings as a preference set: one training prompt per rated prompt that has at
/// least two continuations with different scores (so a pair can be built), those prompts again
/// as held-out prompts for evaluation. `None` when no prompt qualifies yet.
pub fn ratings_to_set(ratings: &[Rating]) -> Option<PreferenceSet> {
    let mut prompts: Vec<TrainPrompt> = Vec::new();
    for r in ratings {
        let response = ScoredResponse { text: r.text.clone(), score: r.score as f64 };
        match prompts.iter_mut().find(|p| p.prompt == r.prompt) {
            Some(p) => p.responses.push(response),
            None => prompts.push(TrainPrompt { prompt: r.prompt.clone(), responses: vec![response] }),
        }
    }
    prompts.retain(|p| p.responses.iter().any(|r| r.score != p.responses[0].score));
    if prompts.is_empty() {
        return None;
    }
    let heldout = prompts.iter().map(|p| HeldOutPrompt { prompt: p.prompt.clone() }).collect();
    Some(PreferenceSet { version: SET_VERSION, description: "the learner's rated continuations".into(), train: prompts, heldout })
}

/// Whether every weight of `set` is the same whatever the similarity: each prompt has at most
/// two responses (two responses are equally far from each other, so both get weight 1) — then
/// DDPO and DORPO train exactly like DPO and ORPO.
pub fn weights_all_equal(set: &PreferenceSet) -> bool {
    set.train.iter().all(|p| p.responses.len() <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_become_a_set_once_a_prompt_has_two_different_scores() {
        let mut data = LearnerData::default();
        data.rate("p", "one", Some(5)).unwrap();
        assert_eq!(ratings_to_set(&data.ratings), None);
        data.rate("p", "two", Some(5)).unwrap();
        assert_eq!(ratings_to_set(&data.ratings), None, "equal scores make no pair");
        data.rate("p", "two", Some(2)).unwrap();
        data.rate("q", "alone", Some(4)).unwrap();
        let set = ratings_to_set(&data.ratings).unwrap();
        set.validate().unwrap();
        assert_eq!(set.train.len(), 1);
        assert_eq!(set.train[0].responses.iter().map(|r| r.score).collect::<Vec<_>>(), [5.0, 2.0]);
        assert_eq!(set.heldout[0].prompt, "p");
        assert!(weights_all_equal(&set), "two rated continuations: every weight is 1");
        data.rate("p", "three", Some(4)).unwrap();
        assert!(!weights_all_equal(&ratings_to_set(&data.ratings).unwrap()));
        data.rate("p", "three", None).unwrap();
        data.rate("p", "one", None).unwrap();
        assert_eq!(data.ratings.len(), 2);
        assert!(data.rate("p", "x", Some(9)).is_err());
        // A refused new score leaves the old one in place.
        assert!(data.rate("p", "two", Some(0)).is_err());
        assert_eq!(data.ratings.iter().find(|r| r.text == "two").map(|r| r.score), Some(2));
    }

    #[test]
    fn exports_round_trip_and_bad_ones_are_refused() {
        let mut data = LearnerData::default();
        data.rate("p", "<img src=x onerror=alert(1)>", Some(3)).unwrap();
        for k in 0..MAX_HISTORY + 3 {
            data.record(RunSummary { ended: format!("t{k}"), steps: k, seed: 0, data: "toy".into(), lanes: Vec::new() });
        }
        assert_eq!(data.history.len(), MAX_HISTORY);
        assert_eq!(data.history[0].ended, "t3");
        assert_eq!(LearnerData::from_json(&data.to_json()).unwrap(), data);
        assert!(LearnerData::from_json("{\"version\": 2}").unwrap_err().contains("version 2"));
        assert!(LearnerData::from_json("[]").is_err());
        assert!(LearnerData::from_json(&" ".repeat(MAX_IMPORT_BYTES as usize + 1)).unwrap_err().contains("at most"));
        let bad = data.to_json().replace("\"score\": 3", "\"score\": 0");
        assert!(LearnerData::from_json(&bad).is_err());
    }
}
