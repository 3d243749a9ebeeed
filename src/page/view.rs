//! What the page shows, as plain data the components render: an analysis, a model's state, a
//! generation in progress.

use crate::engine::learner::Rating;
use crate::engine::protocol::{Finish, SimilarityKind};
use crate::engine::ratings::{RatingsLink, Scored};
use crate::page::training::duration_words;

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
    Loading(Download),
    Ready { cached: bool, millis: f64, memory_bytes: f64 },
    Failed(String),
}

/// A model's files as they load: per file (name, bytes loaded, total bytes, read from the
/// cache), and the milliseconds since the first began.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Download {
    pub files: Vec<(String, u64, u64, bool)>,
    pub millis: f64,
}

/// Seconds of a download before its rate is taken as its speed.
const RATE_AFTER_SECONDS: f64 = 1.0;

impl Download {
    pub fn loaded(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }

    pub fn total(&self) -> u64 {
        self.files.iter().map(|f| f.2).sum()
    }

    /// The seconds the files still downloading need at the rate they came so far (files read
    /// from the cache left out); none in the first second or before a byte came.
    pub fn seconds_left(&self) -> Option<f64> {
        let network = || self.files.iter().filter(|f| !f.3);
        let (came, left) = (network().map(|f| f.1).sum::<u64>(), network().map(|f| f.2.saturating_sub(f.1)).sum::<u64>());
        let seconds = self.millis / 1000.0;
        (came > 0 && seconds >= RATE_AFTER_SECONDS).then(|| left as f64 / (came as f64 / seconds))
    }

    /// "12.3 / 98.4 MB, about 40 s left".
    pub fn summary(&self) -> String {
        let mb = |bytes: u64| bytes as f64 / 1e6;
        let left = self.seconds_left().filter(|&s| s > 0.0).map(|s| format!(", {} left", duration_words(s))).unwrap_or_default();
        format!("{:.1} / {:.1} MB{left}", mb(self.loaded()), mb(self.total()))
    }
}

impl ModelState {
    /// A file's progress: the state becomes (or stays) Loading, with this file's entry updated.
    pub fn progress(&mut self, file: String, loaded: u64, total: u64, cached: bool, millis: f64) {
        if !matches!(self, ModelState::Loading(_)) {
            *self = ModelState::Loading(Download::default());
        }
        if let ModelState::Loading(download) = self {
            download.millis = millis;
            match download.files.iter_mut().find(|f| f.0 == file) {
                Some(entry) => *entry = (file, loaded, total, cached),
                None => download.files.push((file, loaded, total, cached)),
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
    fn a_download_says_its_megabytes_and_the_time_left_at_its_rate_so_far() {
        let mb = 1_000_000;
        let early = Download { files: vec![("m.gguf".into(), 2 * mb, 98 * mb, false)], millis: 500.0 };
        assert_eq!(early.seconds_left(), None, "not in the first second");
        assert_eq!(early.summary(), "2.0 / 98.0 MB");
        // 24 MB in 12 s: 2 MB/s, 74 MB to go.
        let going = Download { files: vec![("m.gguf".into(), 24 * mb, 98 * mb, false)], millis: 12_000.0 };
        assert_eq!(going.seconds_left(), Some(37.0));
        assert_eq!(going.summary(), "24.0 / 98.0 MB, about 37 s left");
        // A file read from the cache counts in the megabytes, not in the rate.
        let cached = Download { files: vec![("a".into(), 90 * mb, 90 * mb, true), ("b".into(), 0, mb, false)], millis: 3_000.0 };
        assert_eq!((cached.seconds_left(), cached.summary()), (None, "90.0 / 91.0 MB".to_string()));
        let done = Download { files: vec![("m.gguf".into(), 98 * mb, 98 * mb, false)], millis: 60_000.0 };
        assert_eq!(done.summary(), "98.0 / 98.0 MB");
    }

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
