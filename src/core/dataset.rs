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
    /// The chosen response's deviation weight w ([`crate::core::deviation::weights`]: w = z / mean z
    /// over its prompt's responses, so w ≥ 0, and 0 for the least deviating response).
    pub weight: f64,
    /// The chosen response's raw deviation.
    pub deviation_chosen: f64,
}

/// A TRL row as read back: `weight` and `deviation_chosen` are optional there.
#[derive(Deserialize)]
struct TrlInput {
    prompt: String,
    chosen: String,
    rejected: String,
}

impl PreferenceSet {
    /// Reads TRL preference JSONL (`prompt`, `chosen`, `rejected` per line; blank lines skipped)
    /// as a training set: each prompt's distinct responses, scored by wins minus losses, so the
    /// pairs rebuilt from it prefer what the rows preferred. No held-out prompts.
    pub fn from_trl_jsonl(text: &str) -> Result<Self, DatasetError> {
        let mut train: Vec<TrainPrompt> = Vec::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let row: TrlInput = serde_json::from_str(line).map_err(|e| DatasetError::Json(format!("line {}: {e}", n + 1)))?;
            if row.chosen == row.rejected {
                return Err(DatasetError::Json(format!("line {}: chosen and rejected are the same text", n + 1)));
            }
            let index = match train.iter().position(|p| p.prompt == row.prompt) {
                Some(i) => i,
                None => {
                    train.push(TrainPrompt { prompt: row.prompt.clone(), responses: Vec::new() });
                    train.len() - 1
                }
            };
            let responses = &mut train[index].responses;
            for (text, delta) in [(row.chosen, 1.0), (row.rejected, -1.0)] {
                match responses.iter_mut().find(|r| r.text == text) {
                    Some(r) => r.score += delta,
                    None => responses.push(ScoredResponse { text, score: delta }),
                }
            }
        }
        let set = Self { version: VERSION, description: "imported from TRL preference JSONL".into(), train, heldout: Vec::new() };
        set.validate()?;
        Ok(set)
    }
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
    fn trl_rows_become_scored_prompts() {
        let rows = concat!(
            r#"{"prompt":"p","chosen":"a","rejected":"b","weight":1.5,"deviation_chosen":0.4}"#,
            "\n\n",
            r#"{"prompt":"p","chosen":"a","rejected":"c"}"#,
            "\n",
            r#"{"prompt":"q","chosen":"x","rejected":"y"}"#,
        );
        let set = PreferenceSet::from_trl_jsonl(rows).unwrap();
        assert_eq!(set.train.len(), 2);
        let scores: Vec<(&str, f64)> = set.train[0].responses.iter().map(|r| (r.text.as_str(), r.score)).collect();
        assert_eq!(scores, [("a", 2.0), ("b", -1.0), ("c", -1.0)]);
        let err = PreferenceSet::from_trl_jsonl("{\"prompt\":\"p\",\"chosen\":\"a\"}").unwrap_err();
        assert!(matches!(&err, DatasetError::Json(m) if m.starts_with("line 1:")), "{err}");
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
