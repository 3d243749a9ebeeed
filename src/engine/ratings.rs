//! A class's own preference data: each student's ratings of one prompt's continuations travel
//! as a short ratings link (or the same JSON as a file), and the teacher pools the links into
//! one preference set, the JSON the page trains on and `deviate pairs` reads.
//!
//! Format, version 1: `1.` + base64url (no padding) of the raw-deflated JSON
//! `{"prompt": …, "seed": …, "ratings": [{"text": …, "score": 1–5}, …]}`; the page puts it
//! after `#r=`. It is checked as a share link is ([`link::unpack`]: length, version, inflated
//! size) and then value by value.

use serde::{Deserialize, Serialize};

use crate::core::dataset::PreferenceSet;
use crate::engine::learner::{MAX_SCORE, Rating, ratings_to_set};
use crate::engine::link::{self, LinkError, MAX_TEXT_CHARS};

/// The version this build writes, and the newest it reads.
pub const RATINGS_VERSION: u32 = 1;
/// Most continuations one ratings link carries (the page generates at most 8 at a time).
pub const MAX_LINK_RATINGS: usize = 64;

/// One rated continuation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scored {
    pub text: String,
    pub score: u8,
}

/// One student's ratings of one prompt's continuations, and the generation's seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingsLink {
    pub prompt: String,
    pub seed: u64,
    pub ratings: Vec<Scored>,
}

impl RatingsLink {
    /// Why these ratings cannot be pooled, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.prompt.trim().is_empty() || self.prompt.len() > MAX_TEXT_CHARS {
            return Err(format!("the prompt must be 1 to {MAX_TEXT_CHARS} characters"));
        }
        if self.ratings.is_empty() || self.ratings.len() > MAX_LINK_RATINGS {
            return Err(format!("{} rated continuations; a ratings link holds 1 to {MAX_LINK_RATINGS}", self.ratings.len()));
        }
        for r in &self.ratings {
            if !(1..=MAX_SCORE).contains(&r.score) || r.text.trim().is_empty() || r.text.len() > MAX_TEXT_CHARS {
                return Err(format!("a rating must score a non-empty continuation from 1 to {MAX_SCORE}"));
            }
        }
        Ok(())
    }

    /// The ratings as a link token.
    pub fn encode(&self) -> String {
        link::pack(RATINGS_VERSION, &serde_json::to_vec(self).expect("ratings are plain data"))
    }

    /// Reads a token, or a whole address that holds one after `#r=`.
    pub fn decode(link: &str) -> Result<Self, String> {
        let token = link.rsplit_once("#r=").map_or(link, |(_, token)| token);
        let (_, json) = link::unpack(token, RATINGS_VERSION).map_err(|e| match e {
            LinkError::NoVersion => format!("not a ratings link (it should start with \"{RATINGS_VERSION}.\" or hold \"#r=\")"),
            LinkError::Future(v) => format!("the ratings link was made by a newer Deviate (format {v}): update the page"),
            other => other.to_string(),
        })?;
        Self::from_json(&String::from_utf8_lossy(&json))
    }

    /// Reads the JSON of a ratings file (the link's content), checked.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let ratings: Self = serde_json::from_str(json).map_err(|e| format!("not ratings: {e}"))?;
        ratings.check()?;
        Ok(ratings)
    }
}

/// What pooling did with one link.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Its prompt, the continuations it added, and those already in the pool (left out).
    Pooled { prompt: String, added: usize, duplicates: usize },
    Refused(String),
}

/// A class's pooled ratings.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// One outcome per input, in order.
    pub outcomes: Vec<Outcome>,
    /// Every pooled rating, in the order first seen.
    pub ratings: Vec<Rating>,
}

impl Pool {
    /// The preference set to train on: every prompt with at least two continuations rated
    /// differently (as the page's own ratings become one); `None` if there is none.
    pub fn set(&self) -> Option<PreferenceSet> {
        ratings_to_set(&self.ratings)
    }
}

/// Pools `inputs` (each a ratings link read, or why it could not be), merging by prompt: a
/// continuation of a prompt already pooled (the same text, by another student with the same
/// seed) is a duplicate and keeps its first score.
pub fn pool(inputs: Vec<Result<RatingsLink, String>>) -> Pool {
    let mut pool = Pool { outcomes: Vec::with_capacity(inputs.len()), ratings: Vec::new() };
    for input in inputs {
        let outcome = match input {
            Err(why) => Outcome::Refused(why),
            Ok(link) => {
                let (mut added, mut duplicates) = (0, 0);
                for r in link.ratings {
                    let text = r.text.trim().to_string();
                    if pool.ratings.iter().any(|p| p.prompt == link.prompt && p.text == text) {
                        duplicates += 1;
                    } else {
                        pool.ratings.push(Rating { prompt: link.prompt.clone(), text, score: r.score });
                        added += 1;
                    }
                }
                Outcome::Pooled { prompt: link.prompt, added, duplicates }
            }
        };
        pool.outcomes.push(outcome);
    }
    pool
}

/// Reads one pasted line or dropped file: a ratings link (or an address holding one), or a
/// ratings file's JSON.
pub fn read(input: &str) -> Result<RatingsLink, String> {
    let input = input.trim();
    if input.starts_with('{') { RatingsLink::from_json(input) } else { RatingsLink::decode(input) }
}

/// Reads pasted links, one a line: each non-empty line with its number (from 1), as [`read`]
/// reads it.
pub fn read_lines(text: &str) -> Vec<(usize, Result<RatingsLink, String>)> {
    text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, read(l))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_lines_are_read_one_a_line_numbered_from_one_blank_ones_skipped() {
        let a = student("Write about rain.", &[("It rained.", 2), ("The sky wept ink.", 5)]);
        let text = format!("\n{}\n   \nnot a link\n", a.encode());
        let read = read_lines(&text);
        assert_eq!(read.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(read[0].1, Ok(a));
        assert!(read[1].1.is_err());
    }

    fn student(prompt: &str, texts: &[(&str, u8)]) -> RatingsLink {
        RatingsLink { prompt: prompt.into(), seed: 3, ratings: texts.iter().map(|&(t, s)| Scored { text: t.into(), score: s }).collect() }
    }

    #[test]
    fn ratings_links_round_trip_and_refuse_what_they_cannot_use() {
        let a = student("Write about rain.", &[("It rained.", 2), ("The sky wept ink.", 5)]);
        assert_eq!(RatingsLink::decode(&a.encode()), Ok(a.clone()));
        assert_eq!(RatingsLink::decode(&format!("https://x.org/deviate/#r={}", a.encode())), Ok(a.clone()));
        assert_eq!(read(&serde_json::to_string(&a).unwrap()), Ok(a.clone()));
        assert!(a.encode().len() < 200, "short: {}", a.encode());
        let bad = student("Write about rain.", &[("It rained.", 9)]);
        assert!(RatingsLink::decode(&bad.encode()).unwrap_err().contains("from 1 to 5"));
        assert!(read("hello").unwrap_err().contains("not a ratings link"));
        assert!(read("1.!!!").unwrap_err().contains("base64url"));
        assert!(read(&format!("1.{}", "A".repeat(40_000))).unwrap_err().contains("too long"));
        assert!(read("9.AAAA").unwrap_err().contains("newer Deviate"));
        assert!(read(r#"{"prompt":"p","seed":1,"ratings":[],"extra":1}"#).is_err());
    }

    #[test]
    fn a_class_pools_by_prompt_without_duplicates() {
        let rain = |t: &[(&str, u8)]| Ok(student("Write about rain.", t));
        let pooled = pool(vec![
            rain(&[("It rained.", 2), ("The sky wept ink.", 5)]),
            rain(&[("It rained. ", 4), ("Puddles sang.", 3)]),
            Err("the link is not valid base64url".into()),
            Ok(student("Write about snow.", &[("Snow fell.", 1), ("The hush had teeth.", 5)])),
        ]);
        assert_eq!(pooled.outcomes, vec![
            Outcome::Pooled { prompt: "Write about rain.".into(), added: 2, duplicates: 0 },
            Outcome::Pooled { prompt: "Write about rain.".into(), added: 1, duplicates: 1 },
            Outcome::Refused("the link is not valid base64url".into()),
            Outcome::Pooled { prompt: "Write about snow.".into(), added: 2, duplicates: 0 },
        ]);
        let set = pooled.set().unwrap();
        assert_eq!(set.train.len(), 2);
        let scores: Vec<f64> = set.train[0].responses.iter().map(|r| r.score).collect();
        assert_eq!(scores, [2.0, 5.0, 3.0], "the duplicate keeps its first score");
    }
}
