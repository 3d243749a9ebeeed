//! What the page shows, as plain data the components render: an analysis, a model's state, a
//! generation in progress.

use crate::engine::protocol::{Finish, SimilarityKind};

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
    pub running: bool,
    pub items: Vec<GeneratedItem>,
    pub summary: String,
}

impl Generated {
    /// Generation `id` of `n` continuations of `prompt`, just sent.
    pub fn started(id: u64, prompt: String, n: usize) -> Self {
        Self { id: Some(id), prompt, running: true, items: vec![GeneratedItem::default(); n], summary: "Starting…".into() }
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
