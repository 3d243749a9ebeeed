//! Typed messages between the page (UI) and the worker that runs the engine.
//! UI → worker: [`Request`]; worker → UI: [`Event`]. Both travel as JSON strings.

use serde::{Deserialize, Serialize};

use crate::core::deviation::DistanceMatrix;
pub use crate::core::similarity::SimilarityKind;
pub use crate::engine::generate::{Continuation, Finish, GenerateParams};
pub use crate::core::dataset::PreferenceSet;
pub use crate::engine::experiment::{EvalPoint, ExperimentConfig, Weighting};
pub use crate::engine::probe::ProbePoint;
pub use crate::engine::train::{Method, StepMetrics, TrainConfig};

/// Which model an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelName {
    /// all-MiniLM-L6-v2, loaded when the worker starts.
    Embedder,
    /// SmolLM2-135M-Instruct, loaded on the first generation.
    Lm,
}

/// What runs the models, as shown in the page's badge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BackendInfo {
    /// WebGPU through burn's wgpu backend, with the adapter's description.
    Webgpu { vendor: String, architecture: String, description: String, fallback: bool },
    /// burn's Flex CPU backend, with why WebGPU is not used.
    Cpu { reason: String },
}

impl BackendInfo {
    /// The badge's text, e.g. "WebGPU (google / swiftshader)" or "CPU (no WebGPU adapter)".
    pub fn label(&self) -> String {
        match self {
            BackendInfo::Webgpu { vendor, architecture, description, .. } => {
                let parts: Vec<&str> =
                    [vendor, architecture].into_iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
                match (parts.is_empty(), description.is_empty()) {
                    (false, _) => format!("WebGPU ({})", parts.join(" / ")),
                    (true, false) => format!("WebGPU ({description})"),
                    (true, true) => "WebGPU".to_string(),
                }
            }
            BackendInfo::Cpu { reason } => format!("CPU ({reason})"),
        }
    }

    /// Whether this is a software WebGPU adapter (SwiftShader, llvmpipe, lavapipe, or one the
    /// browser calls a fallback): slower than the CPU path, so not used unless forced.
    pub fn is_software(&self) -> bool {
        let BackendInfo::Webgpu { vendor, architecture, description, fallback } = self else { return false };
        let named = [vendor, architecture, description].iter().any(|s| {
            let s = s.to_lowercase();
            ["swiftshader", "llvmpipe", "lavapipe", "software"].iter().any(|name| s.contains(name))
        });
        *fallback || named
    }
}

/// A request from the UI to the worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Compute the similarity matrix, deviations and weights of `texts`.
    Analyze { id: u64, similarity: SimilarityKind, texts: Vec<String> },
    /// MiniLM token ids and unit embeddings of `texts` (for scripts and tests of the model).
    Embed { id: u64, texts: Vec<String> },
    /// Forget the cached model files (they download again on the next load).
    ClearCache,
    /// Generate continuations of `prompt` (loads the LM first if needed). One runs at a time.
    Generate { id: u64, prompt: String, params: GenerateParams },
    /// Stop the generation `id`: its continuations end as they stand.
    StopGeneration { id: u64 },
    /// Set up training lanes (one policy per method, same seed and data) on the toy set;
    /// replaces any previous session.
    TrainStart { id: u64, setup: TrainSetup },
    /// Run `steps` more steps on every lane of session `id`.
    TrainRun { id: u64, steps: usize },
    /// Pause session `id` after the step in progress (nothing is lost; TrainRun resumes).
    TrainPause { id: u64 },
    /// Send lane `lane`'s LoRA adapters ([`Event::TrainAdapters`]).
    TrainExport { id: u64, lane: usize },
    /// "Run this in TRL": lane `lane`'s files for TRL ([`Event::TrainTrl`]): its pairs, its set-up
    /// for `steps` steps, a README naming `link` (the page's address), and its adapters on the CPU path.
    TrainExportTrl { id: u64, lane: usize, steps: usize, link: String },
    /// Replace lane `lane`'s LoRA adapters with these (safetensors, standard base64; the same
    /// shape); its optimiser starts afresh.
    TrainImport { id: u64, lane: usize, safetensors: String },
    /// Are you there? Answered with [`Event::Pong`] as soon as the worker's event loop is free.
    Ping,
}

/// A training session: which methods side by side, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSetup {
    pub methods: Vec<Method>,
    pub pairs_per_step: usize,
    pub gap: f64,
    pub train: TrainConfig,
    pub eval: EvalSetup,
    pub probe: ProbeSetup,
    /// How deviations become the pairs' weights (similarity kind, weight floor).
    pub weighting: Weighting,
    /// The preference set to train on: `None` for the toy set (www/data/toy_prefs.json), or the
    /// learner's own (e.g. rated continuations).
    pub data: Option<PreferenceSet>,
}

/// Most pairs a step may take, and most steps one Run may ask for.
pub const MAX_PAIRS_PER_STEP: usize = 8;
pub const MAX_RUN_STEPS: usize = 200;

impl TrainSetup {
    /// Why this setup cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.methods.is_empty() {
            return Err("choose at least one method".into());
        }
        if !(1..=MAX_PAIRS_PER_STEP).contains(&self.pairs_per_step) {
            return Err(format!("pairs per step must be between 1 and {MAX_PAIRS_PER_STEP}"));
        }
        let t = &self.train;
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !(positive(t.beta) && positive(t.lambda) && positive(t.learning_rate) && positive(t.max_grad_norm)) {
            return Err("β, λ, the learning rate and the gradient norm must be positive numbers".into());
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0 && self.gap.is_finite() && self.gap >= 0.0) {
            return Err("the weight decay and the pair gap must be finite numbers ≥ 0".into());
        }
        let moment = |b: f64| (0.0..1.0).contains(&b);
        if !(moment(t.adam_beta1) && moment(t.adam_beta2) && positive(t.adam_epsilon)) {
            return Err("AdamW's β₁ and β₂ must be in [0, 1) and its ε a positive number".into());
        }
        if !(1..=64).contains(&t.lora.rank) || !positive(t.lora.alpha) || t.lora.targets.is_empty() {
            return Err("LoRA needs a rank of 1–64, a positive α and at least one target".into());
        }
        self.eval.check()?;
        self.probe.check()?;
        self.weighting.check()?;
        if let Some(set) = &self.data {
            set.validate().map_err(|e| format!("the training data: {e}"))?;
        }
        Ok(())
    }
}

impl Default for TrainSetup {
    fn default() -> Self {
        Self {
            methods: vec![Method::Dpo, Method::Ddpo],
            pairs_per_step: 2,
            gap: 1.0,
            train: TrainConfig::default(),
            eval: EvalSetup::default(),
            probe: ProbeSetup::default(),
            weighting: Weighting::default(),
            data: None,
        }
    }
}

impl TrainSetup {
    /// The experiment settings its lanes train with (pairs, weights, seed, optimiser, probe and
    /// evaluation schedule), scoring `heldout` held-out prompts at most: what the page's worker
    /// and `deviate train --link` run.
    pub fn experiment_config(&self, heldout: usize) -> ExperimentConfig {
        ExperimentConfig {
            methods: self.methods.clone(),
            seed: self.train.seed,
            gap: self.gap,
            pairs_per_step: self.pairs_per_step,
            weighting: self.weighting.clone(),
            eval_prompts: self.eval.prompts.min(heldout),
            samples: self.eval.samples,
            eval_tokens: self.eval.tokens,
            eval_every: if heldout == 0 { 0 } else { self.eval.every },
            probe_every: self.probe.every,
            probe_prompts: self.probe.prompts,
            train: self.train.clone(),
            ..ExperimentConfig::default()
        }
    }
}

/// Steps the one-click lesson runs unless a link says otherwise.
pub const LESSON_STEPS: usize = 6;

/// The lesson's learning rate with TRL + peft's trainer: the smallest rate of a sweep (5e-4 to
/// 4e-3, seeds 100–104) at which DDPO's probe slope led DPO's by at least +0.35 at step 6, by a
/// rule fixed before the runs (docs/lesson-experiment.md).
pub const LESSON_LEARNING_RATE: f64 = 4e-3;

impl TrainSetup {
    /// The classroom lesson's setup from this one: DPO and DDPO on the toy set with this seed,
    /// β, optimiser and LoRA at the lesson's learning rate ([`LESSON_LEARNING_RATE`]), measured
    /// only where the lesson shows it: probed (on this setup's probe prompts) and scored (one
    /// held-out prompt, 3 continuations of 24 tokens: the before/after view's texts) before and
    /// after the lesson's `steps`. The lanes' probes between are not in the lesson's view; they
    /// took about a third of its time.
    pub fn lesson(&self, steps: usize) -> Self {
        let prompts = if self.probe.every == 0 { ProbeSetup::default().prompts } else { self.probe.prompts };
        Self {
            methods: vec![Method::Dpo, Method::Ddpo],
            eval: EvalSetup { every: steps.max(1), prompts: 1, samples: 3, tokens: 24 },
            probe: ProbeSetup { every: steps.max(1), prompts },
            data: None,
            train: TrainConfig { learning_rate: LESSON_LEARNING_RATE, ..self.train.clone() },
            ..self.clone()
        }
    }
}

/// How a training session probes the mechanism ([`crate::engine::probe`]): at step 0 and every
/// `every` steps, the good responses of the first `prompts` training prompts trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeSetup {
    /// 0 turns the probe off.
    pub every: usize,
    pub prompts: usize,
}

impl Default for ProbeSetup {
    fn default() -> Self {
        Self { every: 2, prompts: crate::engine::probe::PROBE_PROMPTS }
    }
}

impl ProbeSetup {
    /// Why these settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.every > MAX_RUN_STEPS || (self.every > 0 && !(1..=8).contains(&self.prompts)) {
            return Err(format!("the probe runs every 0–{MAX_RUN_STEPS} steps on 1–8 prompts"));
        }
        Ok(())
    }
}

/// How a training session scores its lanes for diversity and quality: at step 0 (the base
/// model, shared by every lane) and every `every` steps, `samples` seeded continuations of
/// `tokens` tokens for each of the first `prompts` held-out prompts. Small by default: in
/// the browser one evaluation takes seconds per prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalSetup {
    /// 0 turns evaluation off.
    pub every: usize,
    pub prompts: usize,
    pub samples: usize,
    pub tokens: usize,
}

impl Default for EvalSetup {
    fn default() -> Self {
        Self { every: 2, prompts: 2, samples: 3, tokens: 24 }
    }
}

impl EvalSetup {
    /// Why these settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.every == 0 {
            return Ok(());
        }
        if !(1..=8).contains(&self.prompts) || !(2..=8).contains(&self.samples) || !(1..=128).contains(&self.tokens) {
            return Err("evaluation needs 1–8 prompts, 2–8 samples and 1–128 tokens".into());
        }
        Ok(())
    }
}

/// A pair of the current batch as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairView {
    pub prompt: String,
    pub chosen: String,
    pub rejected: String,
    #[serde(with = "crate::core::float")]
    pub weight: f64,
    #[serde(with = "crate::core::float")]
    pub deviation_chosen: f64,
}

/// An event from the worker to the UI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The backend is initialised; requests sent before this are queued, not lost.
    Ready { backend: BackendInfo },
    /// Bytes of a model file received so far (`cached` when read from the browser cache);
    /// `millis` since the model's first file began loading.
    ModelProgress { model: ModelName, file: String, loaded: u64, total: u64, cached: bool, #[serde(with = "crate::core::float")] millis: f64 },
    /// The model is loaded and answers requests; `cached` when every file came from the
    /// browser cache; `memory_bytes` is the worker's wasm memory after loading.
    ModelReady { model: ModelName, cached: bool, #[serde(with = "crate::core::float")] millis: f64, #[serde(with = "crate::core::float")] memory_bytes: f64 },
    /// The model could not be loaded (the embedder's absence leaves the model-free
    /// similarities working).
    ModelError { model: ModelName, message: String },
    /// Generation `id` read its prompt (`prompt_tokens` long) and starts sampling.
    GenerationStarted { id: u64, prompt_tokens: usize },
    /// Continuation `index` of generation `id` grew by `delta`.
    Token { id: u64, index: usize, delta: String },
    /// Continuation `index` of generation `id` ended.
    ContinuationDone { id: u64, index: usize, continuation: Continuation },
    /// Generation `id` ended: `tokens` sampled in `millis` (prompt reading included);
    /// `stopped` when the user stopped it.
    GenerationDone { id: u64, tokens: usize, #[serde(with = "crate::core::float")] millis: f64, stopped: bool },
    /// Session `id` is set up: its lanes' methods and how many pairs each trains on.
    TrainReady { id: u64, methods: Vec<Method>, pairs: Vec<usize> },
    /// Lane `lane` of session `id` took a step on `batch`.
    TrainStep { id: u64, lane: usize, metrics: StepMetrics, batch: Vec<PairView>, #[serde(with = "crate::core::float")] millis: f64 },
    /// Evaluating lane `lane` (`None`: the base model, step 0): `done` of `total` prompts scored.
    TrainEvaluating { id: u64, lane: Option<usize>, done: usize, total: usize },
    /// Lane `lane`'s evaluation (`None`: the base model, step 0 of every lane), in `millis`.
    TrainEval { id: u64, lane: Option<usize>, point: EvalPoint, #[serde(with = "crate::core::float")] millis: f64 },
    /// Probing lane `lane`'s mechanism (`None`: the base model and the reference log-probs).
    TrainProbing { id: u64, lane: Option<usize> },
    /// Lane `lane`'s mechanism probe (`None`: the base model, step 0 of every lane), in `millis`.
    TrainProbe { id: u64, lane: Option<usize>, point: ProbePoint, #[serde(with = "crate::core::float")] millis: f64 },
    /// Lane `lane` rejected a step (a non-finite loss or update); its state is unchanged.
    TrainRejected { id: u64, lane: usize, step: usize, reason: String },
    /// Session `id` stopped running (done or paused) after `steps` steps per lane;
    /// `memory_bytes` is the worker's wasm memory then (its peak: wasm memory never shrinks).
    TrainIdle { id: u64, steps: usize, paused: bool, #[serde(with = "crate::core::float")] memory_bytes: f64 },
    /// Lane `lane`'s LoRA adapters after `steps` steps: safetensors (the format of `deviate
    /// train --save`), standard base64.
    TrainAdapters { id: u64, lane: usize, steps: usize, safetensors: String },
    /// Lane `lane`'s files for TRL ([`crate::engine::export`]) as a zip archive, standard base64;
    /// `adapters` says whether the lane's adapters are in it.
    TrainTrl { id: u64, lane: usize, zip: String, adapters: bool },
    /// Lane `lane` now has the adapters of [`Request::TrainImport`] (`bytes` long).
    TrainImported { id: u64, lane: usize, bytes: usize },
    /// [`Request::ClearCache`] is done.
    CacheCleared,
    /// The answer to [`Request::Analyze`] with the same `id`: the first kind's distances and
    /// deviations, the combined weights, and the indices of truncated texts.
    Analysis {
        id: u64,
        similarity: SimilarityKind,
        distances: DistanceMatrix,
        #[serde(with = "crate::core::float::vec")] deviation: Vec<f64>,
        #[serde(with = "crate::core::float::vec")] weight: Vec<f64>,
        truncated: Vec<usize>,
        #[serde(with = "crate::core::float")] millis: f64,
    },
    /// The answer to [`Request::Embed`] with the same `id`.
    Embeddings { id: u64, token_ids: Vec<Vec<u32>>, #[serde(with = "crate::core::float::rows32")] vectors: Vec<Vec<f32>>, truncated: Vec<bool> },
    /// A request failed; `id` is the request's, when there was one.
    Error { id: Option<u64>, message: String },
    /// The answer to [`Request::Ping`].
    Pong,
    /// The worker panicked (`message`: where and why); it cannot go on and the page replaces it.
    Crashed { message: String },
}

impl Request {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("requests always serialise")
    }

    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

impl Event {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }

    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_json() {
        let request = Request::Analyze { id: 7, similarity: SimilarityKind::Jaccard, texts: vec!["a".into()] };
        assert_eq!(Request::from_json(&request.to_json()).unwrap(), request);
        let event = Event::Analysis {
            id: 7,
            similarity: SimilarityKind::Both,
            truncated: vec![1],
            distances: DistanceMatrix::from_fn(2, |_, _| 0.25),
            deviation: vec![0.25, 0.25],
            weight: vec![1.0, 1.0],
            millis: 1.5,
        };
        assert_eq!(Event::from_json(&event.to_json()).unwrap(), event);
        let generate = Request::Generate { id: 3, prompt: "p".into(), params: GenerateParams::default() };
        assert_eq!(Request::from_json(&generate.to_json()).unwrap(), generate);
        // Sampling options sit beside n and max_tokens; absent ones take their defaults.
        let partial = r#"{"type":"generate","id":4,"prompt":"p","params":{"n":2,"seed":9}}"#;
        let Request::Generate { params, .. } = Request::from_json(partial).unwrap() else { panic!() };
        assert_eq!((params.n, params.sampling.seed, params.max_tokens), (2, 9, GenerateParams::default().max_tokens));
    }

    #[test]
    fn the_lesson_trains_dpo_and_ddpo_at_its_learning_rate_with_the_rest_of_the_setup() {
        let mut setup = TrainSetup { methods: vec![Method::Orpo], ..TrainSetup::default() };
        setup.train.beta = 0.2;
        setup.train.learning_rate = 1e-4;
        let lesson = setup.lesson(4);
        assert_eq!(lesson.methods, vec![Method::Dpo, Method::Ddpo]);
        assert_eq!((lesson.train.learning_rate, lesson.train.beta), (LESSON_LEARNING_RATE, 0.2));
        assert_eq!((lesson.eval.every, lesson.train.adam_epsilon), (4, 1e-8));
        // Measured where the lesson shows it: the base model and after the last step.
        assert_eq!(lesson.probe, ProbeSetup { every: 4, prompts: crate::engine::probe::PROBE_PROMPTS });
        // The lanes' export for TRL carries the lesson's rate.
        let config = crate::engine::export::lane_config(&lesson, Method::Ddpo, 4, false);
        assert_eq!(config["learning_rate"].as_f64(), Some(LESSON_LEARNING_RATE));
    }

    #[test]
    fn badge_labels() {
        let gpu = BackendInfo::Webgpu {
            vendor: "google".into(),
            architecture: "swiftshader".into(),
            description: String::new(),
            fallback: true,
        };
        assert_eq!(gpu.label(), "WebGPU (google / swiftshader)");
        assert_eq!(BackendInfo::Cpu { reason: "no WebGPU adapter".into() }.label(), "CPU (no WebGPU adapter)");
    }

    #[test]
    fn software_adapters_are_told_apart() {
        let gpu = |vendor: &str, architecture: &str, description: &str, fallback| BackendInfo::Webgpu {
            vendor: vendor.into(),
            architecture: architecture.into(),
            description: description.into(),
            fallback,
        };
        assert!(gpu("google", "swiftshader", "", false).is_software());
        assert!(gpu("mesa", "", "llvmpipe (LLVM 19.1.7, 256 bits)", false).is_software());
        assert!(gpu("", "", "Lavapipe", false).is_software());
        assert!(gpu("", "", "", true).is_software(), "the browser's own fallback flag");
        assert!(!gpu("nvidia", "ampere", "NVIDIA GeForce RTX 3060", false).is_software());
        assert!(!gpu("apple", "metal-3", "", false).is_software());
        assert!(!BackendInfo::Cpu { reason: "no adapter".into() }.is_software());
    }
}
