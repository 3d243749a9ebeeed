//! Where the experiment is kept as it changes: the address (its share link, while the link
//! fits) and the learner's stored data. Neither a link too long to write nor one that fails to
//! open ever costs stored work: past the bound the address keeps the last link that fitted and
//! the stored experiment stays whole, and a link that failed to open saves nothing.

use crate::engine::learner::LearnerData;
use crate::engine::link::{Experiment, MAX_LINK_CHARS};

/// What the page opens on, and what it says about it.
#[derive(Debug, PartialEq)]
pub struct Opening {
    pub experiment: Experiment,
    pub link_error: Option<String>,
    /// A link was there but could not be opened: save nothing until the learner changes something.
    pub hold: bool,
}

/// The page's opening for the address's hash (`#x=…`, `#r=…` or empty) and the stored data: the
/// link's experiment; the stored one when the hash is the link that experiment outgrew (so a
/// reload keeps it), when there is no link, or (held) for a ratings link; the default, held,
/// when the link cannot be opened.
pub fn opening(hash: &str, learner: &LearnerData) -> Opening {
    let stored = |link_error| Opening { experiment: learner.experiment.clone(), link_error, hold: false };
    let failed = |why: String| Opening {
        experiment: Experiment::default(),
        link_error: Some(format!("This link could not be opened: {why}. The default experiment is shown; nothing stored was changed.")),
        hold: true,
    };
    if hash.starts_with("#r=") {
        // A student's ratings link: the address keeps it until the learner changes something.
        let note = "This is a ratings link: paste it into Class ratings (below Training) to pool it with the class's.";
        return Opening { experiment: learner.experiment.clone(), link_error: Some(note.into()), hold: true };
    }
    match hash.strip_prefix("#x=") {
        Some(token) if learner.link_outgrown.as_deref() == Some(token) => stored(Some(too_long(learner.experiment.encode().len()))),
        Some(token) => match Experiment::decode(token) {
            Ok(experiment) => Opening { experiment, link_error: None, hold: false },
            Err(e) => failed(e.to_string()),
        },
        None if hash.len() > 1 => failed("it holds no experiment".into()),
        None => stored(None),
    }
}

const TOO_LONG: &str = "This experiment is too large for a link";

/// Why the address does not follow the experiment.
pub fn too_long(chars: usize) -> String {
    format!(
        "{TOO_LONG} ({chars} characters; at most {MAX_LINK_CHARS}): the address keeps its last link that fitted. \
         Export it as a file (Share) to keep or share it; it stays saved in this browser."
    )
}

/// Whether `message` is [`too_long`]'s (which goes once the experiment fits a link again).
pub fn is_too_long(message: &str) -> bool {
    message.starts_with(TOO_LONG)
}

/// What to do with the experiment after a change.
#[derive(Debug, PartialEq)]
pub struct Keep {
    /// The link token to write into the address (`None`: leave the address as it is).
    pub address: Option<String>,
    /// Whether to save the learner's data with this experiment.
    pub save: bool,
    /// The experiment is past the link's bound: this message, and the stored data remembers the
    /// address's link as the one it outgrew.
    pub too_long: Option<String>,
}

/// Keeps the address and storage in step with the experiment.
pub struct Keeper {
    hold: bool,
}

impl Keeper {
    pub fn new(opening: &Opening) -> Self {
        Self { hold: opening.hold }
    }

    /// What to do with `e`, the experiment as it is now (the first call is the page's start).
    pub fn keep(&mut self, e: &Experiment) -> Keep {
        if std::mem::take(&mut self.hold) {
            return Keep { address: None, save: false, too_long: None };
        }
        if e.check().is_err() {
            return Keep { address: None, save: true, too_long: None };
        }
        let token = e.encode();
        if token.len() > MAX_LINK_CHARS {
            return Keep { address: None, save: true, too_long: Some(too_long(token.len())) };
        }
        Keep { address: Some(token), save: true, too_long: None }
    }
}

/// The learner's data to save with experiment `e` and what `keep` said, `hash_token` being the
/// address's link now.
pub fn to_save(learner: &LearnerData, e: Experiment, keep: &Keep, hash_token: Option<String>) -> LearnerData {
    let link_outgrown = if keep.too_long.is_some() { hash_token.or_else(|| learner.link_outgrown.clone()) } else { None };
    LearnerData { experiment: e, link_outgrown, ..learner.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dataset::{PreferenceSet, ScoredResponse, TrainPrompt};

    /// An experiment whose training data (1,200 scored continuations of varied words) makes its
    /// link far longer than the bound.
    fn large() -> Experiment {
        let mut state = 7u64;
        let mut word = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            format!("w{:x}", state >> 40)
        };
        let train = (0..60)
            .map(|p| TrainPrompt {
                prompt: format!("prompt {p}"),
                responses: (0..20).map(|r| ScoredResponse { text: (0..6).map(|_| word()).collect::<Vec<_>>().join(" "), score: (r % 5 + 1) as f64 }).collect(),
            })
            .collect();
        let mut e = Experiment::default();
        e.train.data = Some(PreferenceSet { version: 1, description: String::new(), train, heldout: Vec::new() });
        e
    }

    #[test]
    fn a_link_that_fails_to_open_saves_nothing_until_the_learner_changes_something() {
        let learner = LearnerData { experiment: Experiment { prompt: "mine".into(), ..Experiment::default() }, ..LearnerData::default() };
        let opening = opening("#x=2.not-a-link", &learner);
        assert!(opening.hold && opening.link_error.as_deref().is_some_and(|m| m.contains("nothing stored was changed")), "{opening:?}");
        assert_eq!(opening.experiment, Experiment::default());
        let mut keeper = Keeper::new(&opening);
        // The save effect's first run (the page's start) writes neither the address nor storage.
        assert_eq!(keeper.keep(&opening.experiment), Keep { address: None, save: false, too_long: None });
        let edited = Experiment { prompt: "new".into(), ..Experiment::default() };
        assert_eq!(keeper.keep(&edited), Keep { address: Some(edited.encode()), save: true, too_long: None });
        // A ratings link opens the stored experiment and says where it goes, saving nothing.
        let ratings = super::opening("#r=1.abc", &learner);
        assert_eq!((ratings.experiment == learner.experiment, ratings.hold), (true, true));
        assert!(ratings.link_error.is_some_and(|m| m.contains("Class ratings")));
        // A hash without a link is a failed link too; no hash opens the stored experiment.
        assert!(super::opening("#y", &learner).hold);
        assert_eq!(super::opening("", &learner), Opening { experiment: learner.experiment.clone(), link_error: None, hold: false });
        let good = super::opening(&format!("#x={}", edited.encode()), &learner);
        assert_eq!((good.experiment, good.hold), (edited, false));
    }

    #[test]
    fn past_the_bound_the_address_keeps_its_last_link_and_a_reload_opens_the_stored_experiment() {
        let big = large();
        let mut keeper = Keeper::new(&opening("", &LearnerData::default()));
        let keep = keeper.keep(&big);
        assert!(big.encode().len() > MAX_LINK_CHARS, "{}", big.encode().len());
        assert_eq!((keep.address.as_deref(), keep.save), (None, true));
        assert!(keep.too_long.as_deref().is_some_and(|m| m.contains("too large for a link")));
        let before = Experiment::default().encode();
        let saved = to_save(&LearnerData::default(), big.clone(), &keep, Some(before.clone()));
        assert_eq!((saved.experiment == big, saved.link_outgrown.as_deref()), (true, Some(before.as_str())));
        // The reload finds the old link in the address: the stored experiment opens, with the note.
        let reopened = opening(&format!("#x={before}"), &saved);
        assert_eq!((reopened.experiment == big, reopened.hold), (true, false));
        assert!(reopened.link_error.is_some_and(|m| m.contains("too large for a link")));
        // Saving it again changes nothing; a fitting experiment forgets the outgrown link.
        let again = to_save(&saved, big.clone(), &Keeper::new(&opening("", &saved)).keep(&big), Some(before.clone()));
        assert_eq!(again, saved);
        let small = Experiment::default();
        assert_eq!(to_save(&saved, small.clone(), &keeper.keep(&small), Some(before)).link_outgrown, None);
        // Another link in the address wins over the stored experiment.
        let other = Experiment { prompt: "other".into(), ..Experiment::default() };
        assert_eq!(opening(&format!("#x={}", other.encode()), &saved).experiment, other);
    }
}
