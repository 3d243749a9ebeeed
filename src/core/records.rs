//! The JSONL records the CLI reads and writes (`deviate deviation`), and their checks.

use serde::{Deserialize, Serialize};

use super::deviation::{DistanceMatrix, raw_deviation, weights};

/// One input line: a prompt, its responses, and optional scores (one per response).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptResponses {
    pub prompt: String,
    pub responses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<f64>>,
}

/// Why an input record cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    #[error("needs at least 2 responses, got {0}")]
    TooFewResponses(usize),
    #[error("{responses} responses but {scores} scores")]
    ScoreCountMismatch { responses: usize, scores: usize },
}

impl PromptResponses {
    /// Checks the record: at least two responses, and as many scores as responses.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.responses.len() < 2 {
            return Err(RecordError::TooFewResponses(self.responses.len()));
        }
        match &self.scores {
            Some(scores) if scores.len() != self.responses.len() => Err(RecordError::ScoreCountMismatch {
                responses: self.responses.len(),
                scores: scores.len(),
            }),
            _ => Ok(()),
        }
    }
}

/// One output line: each response's raw deviation and weight, in the input's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptDeviation {
    pub prompt: String,
    pub deviation: Vec<f64>,
    pub weight: Vec<f64>,
    /// Indices of the responses the embedder read only in part (too many tokens).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<usize>,
}

impl PromptDeviation {
    /// Deviation and weights of one prompt's responses from one or more kinds of distance
    /// (semantic and style for the paper's `both`): the weights combine every kind; the
    /// deviation reported is the first kind's.
    pub fn from_distances(prompt: String, kinds: &[DistanceMatrix], min_weight: Option<f64>) -> Self {
        let deviations: Vec<Vec<f64>> = kinds.iter().map(raw_deviation).collect();
        let refs: Vec<&[f64]> = deviations.iter().map(Vec::as_slice).collect();
        let weight = weights(&refs, min_weight);
        let deviation = deviations.into_iter().next().unwrap_or_default();
        Self { prompt, deviation, weight, truncated: Vec::new() }
    }
}

/// Responses typed one per line (the page's text box): every non-empty line, trimmed.
pub fn responses_from_lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_the_non_empty_trimmed_lines() {
        assert_eq!(responses_from_lines(" a \n\n b\r\n  \n"), vec!["a", "b"]);
        assert!(responses_from_lines("").is_empty());
    }

    fn record(json: &str) -> PromptResponses {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn scores_are_optional_and_checked() {
        assert_eq!(record(r#"{"prompt":"p","responses":["a","b"]}"#).validate(), Ok(()));
        assert_eq!(record(r#"{"prompt":"p","responses":["a","b"],"scores":[1,2.5]}"#).validate(), Ok(()));
        assert_eq!(
            record(r#"{"prompt":"p","responses":["a","b"],"scores":[1]}"#).validate(),
            Err(RecordError::ScoreCountMismatch { responses: 2, scores: 1 })
        );
        assert_eq!(record(r#"{"prompt":"p","responses":["a"]}"#).validate(), Err(RecordError::TooFewResponses(1)));
    }

    #[test]
    fn extra_fields_are_ignored_and_missing_fields_rejected() {
        assert!(serde_json::from_str::<PromptResponses>(r#"{"prompt":"p","responses":["a","b"],"id":1}"#).is_ok());
        assert!(serde_json::from_str::<PromptResponses>(r#"{"responses":["a","b"]}"#).is_err());
    }
}
