//! The worker's training sessions: one LoRA policy per method ("lane") on the toy preference
//! set, stepped together, paused between steps without losing anything.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use gloo_timers::future::TimeoutFuture;

use crate::core::dataset::PreferenceSet;
use crate::engine::embed::Embedder;
use crate::engine::export;
use crate::engine::experiment::{EvalPoint, ExperimentConfig, PreparedPair, analyse, batch, evaluate_prompt, prepare_pairs};
use crate::engine::generate::LanguageModel;
use crate::engine::probe::{self, Probe};
use crate::engine::protocol::{Event, PairView, TrainSetup};
use crate::engine::train::{StepOutcome, Trainer};

use super::generation::Generator;
use super::runtime::{Rt, wasm_memory};

const DATA: &str = "./data/toy_prefs.json";

struct Lane {
    trainer: Trainer,
    pairs: Vec<PreparedPair>,
}

struct Session {
    id: u64,
    setup: TrainSetup,
    set: PreferenceSet,
    lm: Rc<LanguageModel>,
    embedder: Rc<Embedder>,
    /// The evaluation's settings, in the engine's terms.
    eval: ExperimentConfig,
    /// The mechanism probe, when `setup.probe.every` > 0.
    probe: Option<Probe>,
    lanes: Vec<Lane>,
    steps: usize,
    rt: Rt,
}

/// Owns at most one session; cheap to clone.
#[derive(Clone)]
pub struct Training {
    generator: Generator,
    rt: Rt,
    embedder: Rc<RefCell<Option<Rc<Embedder>>>>,
    session: Rc<RefCell<Option<Session>>>,
    running: Rc<Cell<bool>>,
    pause: Rc<Cell<bool>>,
    /// The session whose steps are running (it leaves its slot while it runs).
    stepping: Rc<Cell<Option<u64>>>,
    /// Whether the device's tensors can be read back synchronously (to save adapters).
    readable: bool,
}

impl Training {
    pub fn new(generator: Generator, embedder: Rc<RefCell<Option<Rc<Embedder>>>>, readable: bool) -> Self {
        let rt = generator.runtime().clone();
        let (session, running, pause, stepping) = Default::default();
        Self { generator, rt, embedder, session, running, pause, stepping, readable }
    }

    fn busy(&self, id: u64) -> bool {
        if self.running.get() {
            self.rt.post(&Event::Error { id: Some(id), message: "training is running; pause it first".into() });
        }
        self.running.get()
    }

    /// Sets up session `id` (loading the LM if needed) as a task.
    pub fn start(&self, id: u64, setup: TrainSetup) {
        if self.busy(id) {
            return;
        }
        self.running.set(true);
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match this.set_up(id, setup).await {
                Ok(session) => {
                    let methods = session.lanes.iter().map(|l| l.trainer.method()).collect();
                    let pairs = session.lanes.iter().map(|l| l.pairs.len()).collect();
                    this.rt.post(&Event::TrainReady { id, methods, pairs });
                    // Step 0: the base model, which every lane starts from.
                    let mut scored = probe_lane(&session, None).await;
                    if scored.is_ok() && session.setup.eval.every > 0 {
                        scored = evaluate(&session, None).await;
                    }
                    *this.session.borrow_mut() = Some(session);
                    match scored {
                        Ok(()) => this.rt.post(&Event::TrainIdle { id, steps: 0, paused: false, memory_bytes: wasm_memory() }),
                        Err(message) => this.rt.post(&Event::Error { id: Some(id), message }),
                    }
                }
                Err(message) => this.rt.post(&Event::Error { id: Some(id), message }),
            }
            this.running.set(false);
        });
    }

    async fn set_up(&self, id: u64, mut setup: TrainSetup) -> Result<Session, String> {
        setup.check()?;
        let embedder = self.embedder.borrow().clone().ok_or("the embedding model is still loading; try again in a moment")?;
        let lm: Rc<LanguageModel> = self.generator.model().await?;
        let set = match &setup.data {
            Some(set) => set.clone(),
            None => PreferenceSet::from_json(&super::fetch::text(DATA).await?).map_err(|e| format!("{DATA}: {e}"))?,
        };
        if set.heldout.is_empty() {
            setup.eval.every = 0; // nothing to score on
        }
        let analysis = analyse(&embedder, &set, &setup.weighting).await.map_err(|e| e.to_string())?;
        let config = setup.experiment_config(set.heldout.len());
        let probe = match setup.probe.every {
            0 => None,
            _ => {
                self.rt.post(&Event::TrainProbing { id, lane: None });
                let items = probe::items(&lm, &set, &analysis, config.seed, setup.probe.prompts).map_err(|e| e.to_string())?;
                Some(Probe::new(lm.model(), items, lm.device()).await.map_err(|e| e.to_string())?)
            }
        };
        let mut lanes = Vec::with_capacity(setup.methods.len());
        for &method in &setup.methods {
            let pairs = prepare_pairs(&lm, &set, &analysis, method, &config).map_err(|e| e.to_string())?;
            let trainer = Trainer::new(lm.model(), method, setup.train.clone(), lm.device());
            lanes.push(Lane { trainer, pairs });
        }
        Ok(Session { id, setup, set, lm, embedder, eval: config, probe, lanes, steps: 0, rt: self.rt.clone() })
    }

    /// Runs `steps` more steps on every lane of session `id`, as a task.
    pub fn run(&self, id: u64, steps: usize) {
        if self.busy(id) {
            return;
        }
        if self.session.borrow().as_ref().map(|s| s.id) != Some(id) {
            self.rt.post(&Event::Error { id: Some(id), message: "no such training session; set one up first".into() });
            return;
        }
        self.running.set(true);
        self.pause.set(false);
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // The session leaves its slot while it runs, so nothing else can borrow it across an await.
            let mut session = this.session.borrow_mut().take().expect("checked above");
            this.stepping.set(Some(id));
            let result = this.steps(&mut session, steps).await;
            this.stepping.set(None);
            let (done, paused) = (session.steps, this.pause.get());
            *this.session.borrow_mut() = Some(session);
            if let Err(message) = result {
                this.rt.post(&Event::Error { id: Some(id), message });
            }
            this.rt.post(&Event::TrainIdle { id, steps: done, paused, memory_bytes: wasm_memory() });
            this.running.set(false);
        });
    }

    async fn steps(&self, session: &mut Session, steps: usize) -> Result<(), String> {
        for _ in 0..steps {
            if self.pause.get() {
                return Ok(());
            }
            let step = session.steps + 1;
            for (lane_index, lane) in session.lanes.iter_mut().enumerate() {
                // Let the worker read its messages (a pause, an analysis) between lane steps.
                TimeoutFuture::new(0).await;
                let chosen = batch(&lane.pairs, step, session.setup.pairs_per_step);
                let tokens: Vec<_> = chosen.iter().map(|p| p.tokens.clone()).collect();
                let started = self.rt.now();
                match lane.trainer.step(&tokens).await.map_err(|e| e.to_string())? {
                    StepOutcome::Applied(metrics) => {
                        let batch = chosen
                            .iter()
                            .map(|p| {
                                let prompt = &session.set.train[p.prompt];
                                PairView {
                                    prompt: prompt.prompt.clone(),
                                    chosen: prompt.responses[p.pair.chosen].text.clone(),
                                    rejected: prompt.responses[p.pair.rejected].text.clone(),
                                    weight: p.weight,
                                    deviation_chosen: p.deviation_chosen,
                                }
                            })
                            .collect();
                        self.rt.post(&Event::TrainStep { id: session.id, lane: lane_index, metrics, batch, millis: self.rt.now() - started });
                    }
                    StepOutcome::Rejected(reason) => self.rt.post(&Event::TrainRejected { id: session.id, lane: lane_index, reason }),
                }
            }
            session.steps = step;
            let every = session.setup.probe.every;
            if every > 0 && step.is_multiple_of(every) {
                for lane in 0..session.lanes.len() {
                    probe_lane(session, Some(lane)).await?;
                }
            }
            let every = session.setup.eval.every;
            if every > 0 && step.is_multiple_of(every) {
                for lane in 0..session.lanes.len() {
                    evaluate(session, Some(lane)).await?;
                }
            }
        }
        Ok(())
    }

    /// Posts lane `lane`'s adapters of session `id` (between runs).
    pub fn export(&self, id: u64, lane: usize) {
        if self.busy(id) {
            return;
        }
        let result = if self.readable {
            self.with_lane(id, lane, |l, steps| Ok((l.trainer.save_adapters().map_err(|e| e.to_string())?, steps)))
        } else {
            Err("downloading adapters needs the CPU path: a browser cannot read WebGPU memory back at once (open the page with WebGPU off)".into())
        };
        match result {
            Ok((bytes, steps)) => self.rt.post(&Event::TrainAdapters { id, lane, steps, safetensors: BASE64.encode(bytes) }),
            Err(message) => self.rt.post(&Event::Error { id: Some(id), message }),
        }
    }

    /// Posts lane `lane`'s files for TRL (between runs): its pairs, its set-up for `steps` steps, a
    /// README naming `link`, and its adapters where they can be read (the CPU path).
    pub fn export_trl(&self, id: u64, lane: usize, steps: usize, link: &str) {
        if self.busy(id) {
            return;
        }
        let result = (|| {
            let slot = self.session.borrow();
            let session = slot.as_ref().filter(|s| s.id == id).ok_or("no such training session; set one up first")?;
            let l = session.lanes.get(lane).ok_or("no such lane")?;
            let method = session.setup.methods[lane];
            let adapters = if self.readable { Some(l.trainer.save_adapters().map_err(|e| e.to_string())?) } else { None };
            let has_adapters = adapters.is_some();
            let one = [export::LaneExport { index: lane, method, pairs: &l.pairs, adapters }];
            let files = export::files(&session.set, &session.setup, &one, steps, link);
            let zip = export::zip(&format!("deviate-trl-{}", export::lane_dir(lane, method)), &files)?;
            Ok::<_, String>((zip, has_adapters))
        })();
        match result {
            Ok((zip, adapters)) => self.rt.post(&Event::TrainTrl { id, lane, zip: BASE64.encode(zip), adapters }),
            Err(message) => self.rt.post(&Event::Error { id: Some(id), message }),
        }
    }

    /// Loads adapters (base64 safetensors) into lane `lane` of session `id` (between runs).
    pub fn import(&self, id: u64, lane: usize, safetensors: &str) {
        if self.busy(id) {
            return;
        }
        let result = BASE64.decode(safetensors).map_err(|e| format!("the adapters are not base64: {e}")).and_then(|bytes| {
            let n = bytes.len();
            self.with_lane(id, lane, |l, _| l.trainer.load_adapters(bytes).map_err(|e| format!("these adapters do not fit: {e}")))?;
            Ok(n)
        });
        match result {
            Ok(bytes) => self.rt.post(&Event::TrainImported { id, lane, bytes }),
            Err(message) => self.rt.post(&Event::Error { id: Some(id), message }),
        }
    }

    /// `f` on lane `lane` of session `id` (with the steps taken), if there is one.
    fn with_lane<T>(&self, id: u64, lane: usize, f: impl FnOnce(&mut Lane, usize) -> Result<T, String>) -> Result<T, String> {
        let mut slot = self.session.borrow_mut();
        let session = slot.as_mut().filter(|s| s.id == id).ok_or("no such training session; set one up first")?;
        let steps = session.steps;
        f(session.lanes.get_mut(lane).ok_or("no such lane")?, steps)
    }

    /// Asks session `id` to pause after the step in progress.
    pub fn pause(&self, id: u64) {
        let current = self.stepping.get().or_else(|| self.session.borrow().as_ref().map(|s| s.id));
        if current == Some(id) {
            self.pause.set(true);
        }
    }
}

/// Probes lane `lane`'s policy (`None`: the base model) when the session has a probe.
async fn probe_lane(session: &Session, lane: Option<usize>) -> Result<(), String> {
    let Some(probe) = &session.probe else { return Ok(()) };
    session.rt.post(&Event::TrainProbing { id: session.id, lane });
    TimeoutFuture::new(0).await;
    let started = session.rt.now();
    let trained = lane.map(|i| session.lanes[i].trainer.policy());
    let policy = trained.as_ref().unwrap_or(session.lm.model());
    let method = lane.map(|i| session.lanes[i].trainer.method());
    let point = probe.measure(policy, method, session.steps, session.lm.device()).await.map_err(|e| e.to_string())?;
    session.rt.post(&Event::TrainProbe { id: session.id, lane, point, millis: session.rt.now() - started });
    Ok(())
}

/// Scores lane `lane`'s policy (`None`: the base model) on the held-out prompts, a prompt at a
/// time with a yield between, reporting progress and then the point.
async fn evaluate(session: &Session, lane: Option<usize>) -> Result<(), String> {
    let (id, config) = (session.id, &session.eval);
    let trained = lane.map(|i| session.lanes[i].trainer.policy());
    let policy = trained.as_ref().unwrap_or(session.lm.model());
    let started = session.rt.now();
    let total = config.eval_prompts;
    let mut scores = Vec::with_capacity(total);
    for index in 0..total {
        session.rt.post(&Event::TrainEvaluating { id, lane, done: index, total });
        TimeoutFuture::new(0).await;
        let prompt = evaluate_prompt(&session.lm, &session.embedder, policy, &session.set, config, index).await;
        scores.push(prompt.map_err(|e| e.to_string())?);
    }
    let method = lane.map(|i| session.lanes[i].trainer.method());
    let point = EvalPoint::from_prompts(method, session.steps, &scores);
    session.rt.post(&Event::TrainEval { id, lane, point, millis: session.rt.now() - started });
    Ok(())
}
