//! Which similarity a deviation is computed from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The similarity kinds of the paper and this project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimilarityKind {
    /// MiniLM sentence embeddings, cosine (the paper's semantic deviation).
    Semantic,
    /// Token Jaccard over lowercase words: no model.
    Jaccard,
    /// A function-word / punctuation / sentence-length profile, cosine: no model.
    Style,
    /// The paper's combination: weights from the geometric mean of semantic and style.
    Both,
}

impl SimilarityKind {
    pub const ALL: [SimilarityKind; 4] = [Self::Semantic, Self::Jaccard, Self::Style, Self::Both];

    /// The name used in the CLI, JSON and URLs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Semantic => "semantic",
            Self::Jaccard => "jaccard",
            Self::Style => "style",
            Self::Both => "both",
        }
    }

    /// Whether computing it needs the MiniLM embedder.
    pub fn needs_embedder(self) -> bool {
        matches!(self, Self::Semantic | Self::Both)
    }
}

impl fmt::Display for SimilarityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SimilarityKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            format!("unknown similarity {s:?}: expected one of semantic, jaccard, style, both")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in SimilarityKind::ALL {
            assert_eq!(kind.name().parse::<SimilarityKind>(), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert!("cosine".parse::<SimilarityKind>().is_err());
    }
}
