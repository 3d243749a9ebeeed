//! The published lesson seeds (docs/lesson-experiment/format-2, 10 seeds at the lesson's
//! settings), shipped in the page as www/data/lesson_seeds.json so that a class can see where
//! its own run falls: each seed's DDPO − DPO probe slope and their paired summary.

use serde::Deserialize;

/// One published seed's DDPO − DPO slope.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Seed {
    pub seed: u64,
    pub difference: f64,
}

/// The published seeds and their summary (a paired comparison with a bootstrap interval).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LessonSeeds {
    /// The step the slopes were read at (the lesson's default length).
    pub step: usize,
    pub learning_rate: f64,
    pub seeds: Vec<Seed>,
    pub mean_diff: f64,
    pub ci95: [f64; 2],
    /// Seeds where DDPO's slope was above DPO's.
    pub wins: usize,
    pub n: usize,
}

impl LessonSeeds {
    /// The file shipped with the page, read once.
    pub fn published() -> &'static Self {
        static PUBLISHED: std::sync::OnceLock<LessonSeeds> = std::sync::OnceLock::new();
        PUBLISHED.get_or_init(|| {
            serde_json::from_str(include_str!("../../www/data/lesson_seeds.json")).expect("www/data/lesson_seeds.json is checked by tests/lesson_seeds.rs")
        })
    }

    /// The sentence under the strip for a run whose difference was `yours` at step `step`.
    pub fn caption(&self, yours: f64, step: usize) -> String {
        let same = if step == self.step { String::new() } else { format!(" (they ran {} steps; your run, {step})", self.step) };
        format!(
            "Your run: {yours:+.2}. In {} of {} published seeds DDPO's line was steeper than DPO's{same}; their mean was {:+.2} (95 % interval {:+.2} to {:+.2}).",
            self.wins, self.n, self.mean_diff, self.ci95[0], self.ci95[1]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_seeds_read_and_their_caption_names_the_run() {
        let seeds = LessonSeeds::published();
        assert_eq!((seeds.seeds.len(), seeds.n, seeds.step), (10, 10, 6));
        assert_eq!(seeds.wins, seeds.seeds.iter().filter(|s| s.difference > 0.0).count());
        let caption = seeds.caption(0.8412, 2);
        assert!(caption.starts_with("Your run: +0.84. In 10 of 10 published seeds"), "{caption}");
        assert!(caption.contains("(they ran 6 steps; your run, 2)"), "{caption}");
        assert!(!seeds.caption(1.0, 6).contains("they ran"));
    }
}
