//! What the page shows, as plain data the components render: an analysis, a model's state, a
//! generation in progress.

use crate::engine::learner::Rating;
use crate::engine::protocol::{Finish, SimilarityKind};
use crate::engine::ratings::{RatingsLink, Scored};

/// One analysis as the page shows it: the texts it was computed for, and the worker's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Shown {
    pub similarity_kind: SimilarityKind,
    pub texts: Vec<String>,
    pub similarity: Vec<Vec<f64>>,
    pub deviation: Vec<f64>,
    pub weight: Vec<f64>,
    pub truncated: Vec<usize>,
    pub millis: f64,
}

/// Where a model stands, as its panel shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelState {
    /// Not asked for yet (the LM loads on the first generation).
    Idle,
    /// Per file: (name, bytes loaded, total bytes, read from the cache).
    Loading(Vec<(String, u64, u64, bool)>),
    Ready { cached: bool, millis: f64, memory_bytes: f64 },
    Failed(String),
}

impl ModelState {
    /// A file's progress: the state becomes (or stays) Loading, with this file's entry updated.
    pub fn progress(&mut self, file: String, loaded: u64, total: u64, cached: bool) {
        if !matches!(self, ModelState::Loading(_)) {
            *self = ModelState::Loading(Vec::new());
        }
        if let ModelState::Loading(files) = self {
            match files.iter_mut().find(|f| f.0 == file) {
                Some(entry) => *entry = (file, loaded, total, cached),
                None => files.push((file, loaded, total, cached)),
            }
        }
    }

    pub fn is_loading(&self) -> bool {
        matches!(self, ModelState::Loading(_))
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, ModelState::Ready { .. })
    }
}

/// One continuation as it streams in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeneratedItem {
    pub text: String,
    pub finish: Option<Finish>,
}

/// The generation the page shows: its id, continuations, and a one-line summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generated {
    pub id: Option<u64>,
    /// The prompt the continuations answer.
    pub prompt: String,
    /// The sampling seed they were generated with.
    pub seed: u64,
    pub running: bool,
    pub items: Vec<GeneratedItem>,
    pub summary: String,
}

impl Generated {
    /// Generation `id` of `n` continuations of `prompt` with sampling seed `seed`, just sent.
    pub fn started(id: u64, prompt: String, n: usize, seed: u64) -> Self {
        Self { id: Some(id), prompt, seed, running: true, items: vec![GeneratedItem::default(); n], summary: "Starting…".into() }
    }

    /// The learner's ratings of these continuations, as a ratings link's content (`None`
    /// until one is rated).
    pub fn rated(&self, ratings: &[Rating]) -> Option<RatingsLink> {
        let rated: Vec<Scored> = self
            .items
            .iter()
            .filter_map(|item| ratings.iter().find(|r| r.prompt == self.prompt && r.text == item.text))
            .map(|r| Scored { text: r.text.clone(), score: r.score })
            .collect();
        (!rated.is_empty()).then(|| RatingsLink { prompt: self.prompt.clone(), seed: self.seed, ratings: rated })
    }

    /// The finished continuations, one per line (their own line breaks become spaces), in order.
    pub fn finished_lines(&self) -> String {
        let lines: Vec<String> = self
            .items
            .iter()
            .filter(|item| item.finish.is_some() && !item.text.trim().is_empty())
            .map(|item| item.text.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_sends_only_its_own_rated_continuations() {
        let mut g = Generated::started(1, "Write about rain.".into(), 3, 42);
        for (item, text) in g.items.iter_mut().zip(["It rained.", "Puddles sang.", "Sun."]) {
            item.text = text.into();
        }
        let rate = |prompt: &str, text: &str, score| Rating { prompt: prompt.into(), text: text.into(), score };
        assert_eq!(g.rated(&[rate("Other prompt", "It rained.", 5)]), None);
        let ratings = [rate("Write about rain.", "Puddles sang.", 5), rate("Other prompt", "Sun.", 1), rate("Write about rain.", "It rained.", 2)];
        let link = g.rated(&ratings).unwrap();
        assert_eq!((link.prompt.as_str(), link.seed), ("Write about rain.", 42));
        let texts: Vec<(&str, u8)> = link.ratings.iter().map(|r| (r.text.as_str(), r.score)).collect();
        assert_eq!(texts, [("It rained.", 2), ("Puddles sang.", 5)], "in the continuations' order");
    }
}
