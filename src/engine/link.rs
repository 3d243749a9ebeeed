//! Share links: the whole experiment a page shows (prompt, sampling, seed, similarity, methods,
//! β/λ, LoRA, steps, data, panel, hidden sections) as one compact, URL-safe token.
//!
//! Format, version 2: `2.` + base64url (no padding) of the raw-deflated JSON of the fields
//! that differ from [`Experiment::default`] (a JSON merge patch over the defaults), so the
//! default experiment is `2.q64FAA`. Decoding never trusts the token: its length, the inflated
//! size, JSON depth and every value are bounded and checked, and a newer version is refused by
//! name. The page puts the token in the address's hash: `…/#x=2.…`.
//!
//! Version 1 is the same patch over other defaults: its trainer was burn 0.22's (LoRA A ~
//! N(0, 1/r), AdamW ε 1e-5, clipping per tensor; [`TrainConfig::format_1`]), where version 2's
//! follows TRL + peft. A version-1 link is read over version 1's defaults, so it trains as it
//! did; copied again it becomes a version-2 link that names those three settings.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::records::responses_from_lines;
use crate::core::similarity::SimilarityKind;
use crate::engine::generate::GenerateParams;
use crate::engine::protocol::{LESSON_STEPS, MAX_RUN_STEPS, TrainConfig, TrainSetup};

/// The version this build writes, and the newest it reads.
pub const LINK_VERSION: u32 = 2;
/// Longest token accepted (browsers keep far longer addresses; this keeps decoding cheap).
pub const MAX_LINK_CHARS: usize = 32 * 1024;
/// Largest inflated JSON accepted (a deflate bomb stops here).
pub const MAX_STATE_BYTES: usize = 256 * 1024;
/// Longest prompt or responses text.
pub const MAX_TEXT_CHARS: usize = 64 * 1024;
/// Most responses the page analyses at once.
pub const MAX_RESPONSES: usize = 200;

/// The example writing prompt.
pub const EXAMPLE_PROMPT: &str = "Write a short story about a lighthouse keeper who finds a letter in a bottle.";

/// The example responses: one writing prompt's continuations, most of them retelling the same
/// idea and one going somewhere else, which is the paper's point.
pub const EXAMPLE_RESPONSES: &str = "\
The lighthouse keeper climbed the stairs at dusk and lit the lamp for the ships at sea.
At dusk the old keeper climbed the lighthouse stairs to light the lamp for passing ships.
Every evening the keeper lit the great lamp so the ships would find the harbour.
The lamp had been dark for a century; tonight it lit itself, and the keeper's ghost wept with relief.
A gull stole the keeper's sandwich, and the whole coast heard about it by morning.";

/// A part of the page a link can hide (a teacher's option, like TensorFlow Playground's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Generate,
    Responses,
    Deviation,
    Heatmap,
    Model,
    Training,
    Share,
}

impl Section {
    pub const ALL: [Section; 7] =
        [Self::Generate, Self::Responses, Self::Deviation, Self::Heatmap, Self::Model, Self::Training, Self::Share];

    pub fn name(self) -> &'static str {
        match self {
            Self::Generate => "generate",
            Self::Responses => "responses",
            Self::Deviation => "deviation",
            Self::Heatmap => "heatmap",
            Self::Model => "model",
            Self::Training => "training",
            Self::Share => "share",
        }
    }
}

/// Everything needed to see the same experiment again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Experiment {
    /// The writing prompt continued by the LM.
    pub prompt: String,
    pub generate: GenerateParams,
    /// The responses compared, one per line.
    pub responses: String,
    pub similarity: SimilarityKind,
    /// Methods, β/λ, learning rate, LoRA, seed, evaluation and data of the Training panel.
    pub train: TrainSetup,
    /// Steps a "Run" takes.
    pub run_steps: usize,
    /// The section the page opens at.
    pub panel: Option<Section>,
    /// Sections the page does not show.
    pub hide: Vec<Section>,
    /// Opens the one-click classroom lesson (DPO vs DDPO, `run_steps` steps) at the Training panel.
    pub lesson: bool,
    /// Opens the lesson in presenter mode (large type, one step at a time).
    pub presenter: bool,
}

impl Default for Experiment {
    fn default() -> Self {
        Self {
            prompt: EXAMPLE_PROMPT.into(),
            generate: GenerateParams::default(),
            responses: EXAMPLE_RESPONSES.into(),
            similarity: SimilarityKind::Semantic,
            train: TrainSetup::default(),
            run_steps: 5,
            panel: None,
            hide: Vec::new(),
            lesson: false,
            presenter: false,
        }
    }
}

impl Experiment {
    /// The classroom lesson: its link opens the Training panel ready for "Run the lesson".
    pub fn lesson() -> Self {
        Self {
            train: TrainSetup::default().lesson(LESSON_STEPS),
            run_steps: LESSON_STEPS,
            panel: Some(Section::Training),
            lesson: true,
            ..Self::default()
        }
    }
}

/// Why a link could not be read. The page shows the message and loads the default experiment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is too long ({0} characters; at most {MAX_LINK_CHARS})")]
    TooLong(usize),
    #[error("the link has no version (it should start with \"{LINK_VERSION}.\")")]
    NoVersion,
    #[error("the link was made by a newer Deviate (format {0}; this one reads up to {LINK_VERSION}): update the page")]
    Future(u32),
    #[error("the link is not valid base64url (was it cut or edited?)")]
    Base64,
    #[error("the link's data is damaged or too large (was it cut short?)")]
    Inflate,
    #[error("the link's data is not a valid experiment: {0}")]
    Json(String),
    #[error("the link's experiment cannot run: {0}")]
    Invalid(String),
}

impl Experiment {
    /// Why this experiment cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.prompt.len() > MAX_TEXT_CHARS || self.responses.len() > MAX_TEXT_CHARS {
            return Err(format!("the prompt and the responses may be at most {MAX_TEXT_CHARS} characters each"));
        }
        let responses = responses_from_lines(&self.responses).len();
        if responses > MAX_RESPONSES {
            return Err(format!("{responses} responses; at most {MAX_RESPONSES}"));
        }
        self.generate.check().map_err(|e| e.to_string())?;
        self.train.check()?;
        if !(1..=MAX_RUN_STEPS).contains(&self.run_steps) {
            return Err(format!("steps per run must be between 1 and {MAX_RUN_STEPS}"));
        }
        Ok(())
    }

    /// This experiment as a link token (see the module docs for the format).
    pub fn encode(&self) -> String {
        let value = serde_json::to_value(self).expect("an experiment is plain data");
        let default = serde_json::to_value(Self::default()).expect("an experiment is plain data");
        let patch = diff(&value, &default).unwrap_or_else(|| Value::Object(Map::new()));
        pack(LINK_VERSION, &serde_json::to_vec(&patch).expect("a JSON value serialises"))
    }

    /// Reads a link token, or a whole address that holds one after `#x=`.
    pub fn decode(link: &str) -> Result<Self, LinkError> {
        let token = link.rsplit_once("#x=").map_or(link, |(_, token)| token);
        let (version, json) = unpack(token, LINK_VERSION)?;
        Self::from_patch(&json, Self::defaults(version)).map_err(|e| match e {
            PatchError::Json(m) => LinkError::Json(m),
            PatchError::Invalid(m) => LinkError::Invalid(m),
        })
    }

    /// An experiment from JSON holding any subset of its fields (the rest are defaults), checked.
    pub fn from_json(json: &str) -> Result<Self, String> {
        Self::from_patch(json.as_bytes(), Self::default()).map_err(|e| match e {
            PatchError::Json(m) | PatchError::Invalid(m) => m,
        })
    }

    /// What a link of format `version` leaves unsaid (see the module docs).
    pub fn defaults(version: u32) -> Self {
        let mut experiment = Self::default();
        if version == 1 {
            experiment.train.train = TrainConfig::format_1();
        }
        experiment
    }

    fn from_patch(json: &[u8], defaults: Self) -> Result<Self, PatchError> {
        // serde_json stops at 128 levels of nesting, so `merge` below is bounded too.
        let patch: Value = serde_json::from_slice(json).map_err(|e| PatchError::Json(e.to_string()))?;
        if !patch.is_object() {
            return Err(PatchError::Json("expected a JSON object".into()));
        }
        let mut value = serde_json::to_value(defaults).expect("an experiment is plain data");
        merge(&mut value, patch);
        let experiment: Self = serde_json::from_value(value).map_err(|e| PatchError::Json(e.to_string()))?;
        experiment.check().map_err(PatchError::Invalid)?;
        Ok(experiment)
    }
}

/// `version.` + base64url (no padding) of the raw-deflated `json`: the body of every link.
pub fn pack(version: u32, json: &[u8]) -> String {
    format!("{version}.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(json, 9)))
}

/// The version and JSON bytes of a [`pack`]ed token, checked before anything is trusted: its
/// length, a version from 1 to `newest`, base64url, and the inflated size.
pub fn unpack(token: &str, newest: u32) -> Result<(u32, Vec<u8>), LinkError> {
    let token = token.trim();
    if token.len() > MAX_LINK_CHARS {
        return Err(LinkError::TooLong(token.len()));
    }
    let (version, body) = token.split_once('.').ok_or(LinkError::NoVersion)?;
    let version: u32 = version.parse().map_err(|_| LinkError::NoVersion)?;
    if version > newest {
        return Err(LinkError::Future(version));
    }
    if version == 0 {
        return Err(LinkError::NoVersion);
    }
    let packed = URL_SAFE_NO_PAD.decode(body).map_err(|_| LinkError::Base64)?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_STATE_BYTES).map_err(|_| LinkError::Inflate)?;
    Ok((version, json))
}

enum PatchError {
    Json(String),
    Invalid(String),
}

/// The parts of `value` that differ from `base`, as a merge patch (`None`: no difference).
fn diff(value: &Value, base: &Value) -> Option<Value> {
    if value == base {
        return None;
    }
    match (value, base) {
        (Value::Object(v), Value::Object(b)) => {
            let changed: Map<String, Value> =
                v.iter().filter_map(|(k, x)| match b.get(k) { Some(y) => diff(x, y), None => Some(x.clone()) }.map(|d| (k.clone(), d))).collect();
            Some(Value::Object(changed))
        }
        _ => Some(value.clone()),
    }
}

/// Applies merge patch `patch` to `target`: objects merge key by key, anything else replaces.
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::train::Method;

    #[test]
    fn the_default_experiment_is_a_short_link() {
        let link = Experiment::default().encode();
        assert_eq!(link, "2.q64FAA");
        assert_eq!(Experiment::decode(&link).unwrap(), Experiment::default());
    }

    #[test]
    fn a_changed_experiment_round_trips_and_only_carries_its_changes() {
        let mut e = Experiment::default();
        e.generate.sampling.seed = 42;
        e.train.methods = vec![Method::Ddpo, Method::Dorpo];
        e.train.train.beta = 0.2;
        e.hide = vec![Section::Model];
        e.panel = Some(Section::Training);
        let link = e.encode();
        assert!(link.len() < 160, "{link}");
        assert_eq!(Experiment::decode(&link).unwrap(), e);
        assert_eq!(Experiment::decode(&format!("http://localhost:8000/#x={link}")).unwrap(), e);
    }

    #[test]
    fn bad_links_say_why() {
        let future = Experiment::default().encode().replacen('2', "7", 1);
        assert_eq!(Experiment::decode(&future), Err(LinkError::Future(7)));
        assert_eq!(Experiment::decode("hello"), Err(LinkError::NoVersion));
        assert_eq!(Experiment::decode("2.***"), Err(LinkError::Base64));
        assert_eq!(Experiment::decode("2.AAAA"), Err(LinkError::Inflate));
        let long = "2.".to_string() + &"A".repeat(MAX_LINK_CHARS);
        assert!(matches!(Experiment::decode(&long), Err(LinkError::TooLong(_))));
        let pack = |json: &str| format!("2.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 6)));
        assert!(matches!(Experiment::decode(&pack("[1]")), Err(LinkError::Json(_))));
        assert!(matches!(Experiment::decode(&pack(r#"{"surprise":1}"#)), Err(LinkError::Json(_))));
        assert!(matches!(Experiment::decode(&pack(r#"{"run_steps":0}"#)), Err(LinkError::Invalid(_))));
        assert!(matches!(Experiment::decode(&pack(r#"{"generate":{"n":1000}}"#)), Err(LinkError::Invalid(_))));
        assert!(matches!(Experiment::decode(&pack(r#"{"train":{"train":{"beta":-1}}}"#)), Err(LinkError::Invalid(_))));
        // A deflate bomb: 10 MB of spaces inflates past the limit and is refused.
        let bomb = pack(&format!("{{{}}}", " ".repeat(10_000_000)));
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        assert_eq!(Experiment::decode(&bomb), Err(LinkError::Inflate));
    }

    #[test]
    fn format_1_links_train_as_they_did_and_copy_as_format_2() {
        use crate::engine::train::Clipping;
        use crate::model::llama::LoraInit;
        // A lesson link with a learning rate, as format 1 wrote it.
        let pack = |version: u32, json: &str| format!("{version}.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 9)));
        let patch = r#"{"lesson":true,"run_steps":6,"train":{"train":{"learning_rate":0.001}}}"#;
        let lesson_v1 = pack(1, patch);
        let old = Experiment::decode(&lesson_v1).unwrap();
        assert_eq!(old.train.train, TrainConfig { learning_rate: 0.001, ..TrainConfig::format_1() });
        assert_eq!(old.train.train.lora.init, LoraInit::Normal);
        assert_eq!((old.train.train.adam_epsilon, old.train.train.clipping), (1e-5, Clipping::PerTensor));
        let copied = old.encode();
        assert!(copied.starts_with("2."), "{copied}");
        assert_eq!(Experiment::decode(&copied).unwrap(), old, "re-shared, it keeps format 1's trainer");
        // The same patch as format 2 gets TRL + peft's trainer.
        let new = Experiment::decode(&pack(2, patch)).unwrap();
        assert_eq!(new.train.train, TrainConfig { learning_rate: 0.001, ..TrainConfig::default() });
        assert_eq!(Experiment { train: TrainSetup { train: new.train.train.clone(), ..old.train.clone() }, ..old }, new);
    }
}
