//! The preference data the playground trains on (`www/data/toy_prefs.json`) and its TRL export.
//!
//! Schema, version 1:
//! `{"version": 1, "description": str, "train": [{"prompt": str, "responses": [{"text": str,
//! "score": number}, …]}, …], "heldout": [{"prompt": str}, …]}`: every training prompt has at
//! least two non-empty responses with finite scores (higher is better); held-out prompts are for
//! evaluation only.

use serde::{Deserialize, Serialize};

/// The one schema version this build reads.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredResponse {
    pub text: String,
    pub score: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainPrompt {
    pub prompt: String,
    pub responses: Vec<ScoredResponse>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOutPrompt {
    pub prompt: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreferenceSet {
    pub version: u32,
    #[serde(default)]
    pub description: String,
    pub train: Vec<TrainPrompt>,
    #[serde(default)]
    pub heldout: Vec<HeldOutPrompt>,
}

/// Why a preference set was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DatasetError {
    #[error("not a preference set: {0}")]
    Json(String),
    #[error("version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("the set has no training prompts")]
    Empty,
    #[error("training prompt {0} is empty")]
    EmptyPrompt(usize),
    #[error("training prompt {0} needs at least two responses")]
    TooFewResponses(usize),
    #[error("training prompt {0}, response {1}: {2}")]
    BadResponse(usize, usize, &'static str),
}

impl PreferenceSet {
    pub fn from_json(json: &str) -> Result<Self, DatasetError> {
        let set: Self = serde_json::from_str(json).map_err(|e| DatasetError::Json(e.to_string()))?;
        set.validate()?;
        Ok(set)
    }

    pub fn validate(&self) -> Result<(), DatasetError> {
        if self.version != VERSION {
            return Err(DatasetError::Version(self.version));
        }
        if self.train.is_empty() {
            return Err(DatasetError::Empty);
        }
        for (i, p) in self.train.iter().enumerate() {
            if p.prompt.trim().is_empty() {
                return Err(DatasetError::EmptyPrompt(i));
            }
            if p.responses.len() < 2 {
                return Err(DatasetError::TooFewResponses(i));
            }
            for (j, r) in p.responses.iter().enumerate() {
                if r.text.trim().is_empty() {
                    return Err(DatasetError::BadResponse(i, j, "the text is empty"));
                }
                if !r.score.is_finite() {
                    return Err(DatasetError::BadResponse(i, j, "the score is not a finite number"));
                }
            }
        }
        Ok(())
    }
}

/// One row of TRL's preference format, plus the deviation weighting DDPO/DORPO use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrlRow {
    pub prompt: String,
    pub chosen: String,
    pub rejected: String,
    /// The chosen response's weight w (1 + s in the paper's notation).
    pub weight: f64,
    /// The chosen response's raw deviation.
    pub deviation_chosen: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_toy_set_is_valid_and_as_documented() {
        let set = PreferenceSet::from_json(include_str!("../../www/data/toy_prefs.json")).unwrap();
        assert!(set.train.len() >= 24);
        assert!(set.heldout.len() >= 8);
        assert!(set.train.iter().all(|p| (6..=10).contains(&p.responses.len())));
    }

    #[test]
    fn bad_sets_are_refused_with_the_reason() {
        let one = |r: &str| format!(r#"{{"version":1,"train":[{{"prompt":"p","responses":[{{"text":"a","score":1}},{r}]}}]}}"#);
        assert_eq!(PreferenceSet::from_json(&one(r#"{"text":"b","score":2}"#)).map(|s| s.train.len()), Ok(1));
        assert_eq!(PreferenceSet::from_json(&one(r#"{"text":" ","score":2}"#)), Err(DatasetError::BadResponse(0, 1, "the text is empty")));
        assert_eq!(PreferenceSet::from_json(r#"{"version":2,"train":[]}"#), Err(DatasetError::Version(2)));
        assert_eq!(PreferenceSet::from_json(r#"{"version":1,"train":[]}"#), Err(DatasetError::Empty));
        assert!(matches!(PreferenceSet::from_json("[1,2"), Err(DatasetError::Json(_))));
        let single = r#"{"version":1,"train":[{"prompt":"p","responses":[{"text":"a","score":1}]}]}"#;
        assert_eq!(PreferenceSet::from_json(single), Err(DatasetError::TooFewResponses(0)));
    }
}
