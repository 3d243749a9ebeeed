//! The training settings the page offers as fields, each with a label and a one-line
//! explanation. A field's text goes into a copy of the set-up, which must then pass the same
//! checks a share link goes through ([`TrainSetup::check`], one place); only a valid value
//! replaces the set-up (and so the link). Plain Rust: tested natively.

use std::str::FromStr;

use crate::engine::protocol::TrainSetup;

/// One numeric setting of the training set-up.
pub struct Setting {
    /// The field's id and test id.
    pub id: &'static str,
    pub label: &'static str,
    /// What it does, in one line.
    pub hint: &'static str,
    /// The spin buttons' increment.
    pub step: &'static str,
    /// The value as the field shows it.
    pub get: fn(&TrainSetup) -> String,
    put: fn(&mut TrainSetup, &str) -> Result<(), String>,
}

impl Setting {
    /// `setup` with this field set to `text`, or why that cannot be (unreadable text, or a
    /// set-up a link would refuse).
    pub fn apply(&self, setup: &TrainSetup, text: &str) -> Result<TrainSetup, String> {
        let mut next = setup.clone();
        (self.put)(&mut next, text.trim())?;
        next.check()?;
        Ok(next)
    }
}

fn read<T: FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{text:?} is not a number of the kind this field takes"))
}

/// The weight floor: 0 (or nothing) means no floor.
fn floor(text: &str) -> Result<Option<f64>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let value: f64 = read(text)?;
    Ok((value != 0.0).then_some(value))
}

/// The numeric settings, in the order the panel shows them.
pub const SETTINGS: [Setting; 14] = [
    Setting { id: "train-pairs", label: "Pairs per step", hint: "Preference pairs each lane trains on per step.", step: "1",
        get: |s| s.pairs_per_step.to_string(), put: |s, t| { s.pairs_per_step = read(t)?; Ok(()) } },
    Setting { id: "train-beta", label: "β", hint: "DPO/DDPO: how strongly the policy is held near the reference (larger: closer).", step: "any",
        get: |s| s.train.beta.to_string(), put: |s, t| { s.train.beta = read(t)?; Ok(()) } },
    Setting { id: "train-lambda", label: "λ", hint: "ORPO/DORPO: the weight of the odds-ratio term against the likelihood term.", step: "any",
        get: |s| s.train.lambda.to_string(), put: |s, t| { s.train.lambda = read(t)?; Ok(()) } },
    Setting { id: "train-lr", label: "Learning rate", hint: "The AdamW step size of the LoRA adapters.", step: "any",
        get: |s| s.train.learning_rate.to_string(), put: |s, t| { s.train.learning_rate = read(t)?; Ok(()) } },
    Setting { id: "train-seed", label: "Seed", hint: "Seeds the adapters' start and the order of the pairs: the same seed, the same run.", step: "1",
        get: |s| s.train.seed.to_string(), put: |s, t| { s.train.seed = read(t)?; Ok(()) } },
    Setting { id: "train-rank", label: "LoRA rank", hint: "The rank r of each adapter A·B (1–64): more trainable numbers as it grows.", step: "1",
        get: |s| s.train.lora.rank.to_string(), put: |s, t| { s.train.lora.rank = read(t)?; Ok(()) } },
    Setting { id: "train-alpha", label: "LoRA α", hint: "The adapters are scaled by α / r.", step: "any",
        get: |s| s.train.lora.alpha.to_string(), put: |s, t| { s.train.lora.alpha = read(t)?; Ok(()) } },
    Setting { id: "train-gap", label: "Pair gap", hint: "The least score difference between a pair's chosen and rejected response.", step: "any",
        get: |s| s.gap.to_string(), put: |s, t| { s.gap = read(t)?; Ok(()) } },
    Setting { id: "train-min-weight", label: "Weight floor", hint: "Every pair's weight is at least this (0–1; 0: no floor; the paper tries 0.2).", step: "any",
        get: |s| s.weighting.min_weight.unwrap_or(0.0).to_string(), put: |s, t| { s.weighting.min_weight = floor(t)?; Ok(()) } },
    Setting { id: "train-eval", label: "Score diversity every N steps", hint: "Generates held-out continuations and scores them (0: never; slow on the CPU).", step: "1",
        get: |s| s.eval.every.to_string(), put: |s, t| { s.eval.every = read(t)?; Ok(()) } },
    Setting { id: "train-eval-prompts", label: "Held-out prompts", hint: "How many held-out prompts each evaluation continues (1–8).", step: "1",
        get: |s| s.eval.prompts.to_string(), put: |s, t| { s.eval.prompts = read(t)?; Ok(()) } },
    Setting { id: "train-eval-samples", label: "Samples per prompt", hint: "Continuations per held-out prompt, compared for diversity (2–8).", step: "1",
        get: |s| s.eval.samples.to_string(), put: |s, t| { s.eval.samples = read(t)?; Ok(()) } },
    Setting { id: "train-eval-tokens", label: "Tokens per sample", hint: "The length of each evaluation continuation (1–128 tokens).", step: "1",
        get: |s| s.eval.tokens.to_string(), put: |s, t| { s.eval.tokens = read(t)?; Ok(()) } },
    Setting { id: "train-probe", label: "Probe the mechanism every N steps", hint: "Measures how training moved each good answer's likelihood (0: never).", step: "1",
        get: |s| s.probe.every.to_string(), put: |s, t| { s.probe.every = read(t)?; Ok(()) } },
];

/// The setting with this id.
pub fn setting(id: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(id: &str, text: &str) -> Result<TrainSetup, String> {
        setting(id).expect("a setting").apply(&TrainSetup::default(), text)
    }

    #[test]
    fn every_setting_shows_what_it_sets() {
        let values = [
            ("train-pairs", "3"), ("train-beta", "0.25"), ("train-lambda", "0.5"), ("train-lr", "0.001"), ("train-seed", "7"),
            ("train-rank", "4"), ("train-alpha", "8"), ("train-gap", "2"), ("train-min-weight", "0.2"), ("train-eval", "3"),
            ("train-eval-prompts", "1"), ("train-eval-samples", "2"), ("train-eval-tokens", "16"), ("train-probe", "4"),
        ];
        assert_eq!(values.len(), SETTINGS.len());
        for (id, text) in values {
            let next = apply(id, text).unwrap_or_else(|e| panic!("{id} = {text}: {e}"));
            assert_ne!(next, TrainSetup::default(), "{id} changed nothing");
            assert_eq!((setting(id).unwrap().get)(&next), text, "{id}");
        }
    }

    #[test]
    fn values_a_link_would_refuse_are_refused() {
        for (id, text) in [
            ("train-pairs", "0"), ("train-pairs", "9"), ("train-beta", "-1"), ("train-beta", "0"), ("train-lambda", "NaN"),
            ("train-lr", "inf"), ("train-rank", "0"), ("train-rank", "65"), ("train-alpha", "0"), ("train-gap", "-0.5"),
            ("train-min-weight", "1.5"), ("train-min-weight", "-0.1"), ("train-eval-prompts", "9"), ("train-eval-samples", "1"),
            ("train-eval-tokens", "129"), ("train-probe", "201"), ("train-seed", "-1"), ("train-beta", "abc"), ("train-pairs", "2.5"),
        ] {
            let refused = apply(id, text);
            assert!(refused.is_err(), "{id} = {text} was taken");
            let mut link = TrainSetup::default();
            if (setting(id).unwrap().put)(&mut link, text).is_ok() {
                assert!(link.check().is_err(), "{id} = {text}: the page refuses what a link would take");
            }
        }
    }

    #[test]
    fn a_zero_floor_is_no_floor() {
        assert_eq!(apply("train-min-weight", "0").unwrap().weighting.min_weight, None);
        assert_eq!(apply("train-min-weight", "").unwrap().weighting.min_weight, None);
        assert_eq!(apply("train-min-weight", "0.3").unwrap().weighting.min_weight, Some(0.3));
    }
}
