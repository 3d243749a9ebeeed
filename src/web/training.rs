//! The worker's training sessions: one LoRA policy per method ("lane") on the toy preference
//! set, stepped together, paused between steps without losing anything.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use gloo_timers::future::TimeoutFuture;

use crate::core::dataset::PreferenceSet;
use crate::engine::embed::Embedder;
use crate::engine::experiment::PreparedPair;
use crate::engine::export;
use crate::engine::generate::LanguageModel;
use crate::engine::protocol::{Event, PairView, TrainSetup};
use crate::engine::session::{self, Lane, Models, SessionEvent};

use super::generation::Generator;
use super::runtime::{Rt, wasm_memory};

const DATA: &str = "./data/toy_prefs.json";

/// What a session's tasks are lent: the models and the preference set.
struct Held {
    set: PreferenceSet,
    lm: Rc<LanguageModel>,
    embedder: Rc<Embedder>,
}

impl Held {
    fn models(&self) -> Models<'_> {
        Models { lm: &self.lm, embedder: &self.embedder, set: &self.set }
    }
}

struct Session {
    id: u64,
    setup: TrainSetup,
    held: Held,
    /// The engine's loop, which `deviate experiment` runs too.
    inner: session::Session,
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
                Ok(mut session) => {
                    let methods = session.inner.lanes().iter().map(|l| l.trainer.method()).collect();
                    let pairs = session.inner.lanes().iter().map(|l| l.pair_count()).collect();
                    this.rt.post(&Event::TrainReady { id, methods, pairs });
                    // Step 0: the base model, which every lane starts from.
                    let scored = this.drive(&mut session).await;
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
        let config = setup.experiment_config(set.heldout.len());
        let held = Held { set, lm, embedder };
        let rt = self.rt.clone();
        let inner = session::Session::new(held.models(), &config, || rt.post(&Event::TrainProbing { id, lane: None }))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Session { id, setup, held, inner })
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
            session.inner.run(steps);
            let result = this.drive(&mut session).await;
            this.stepping.set(None);
            let (done, paused) = (session.inner.steps(), !session.inner.is_idle());
            *this.session.borrow_mut() = Some(session);
            if let Err(message) = result {
                this.rt.post(&Event::Error { id: Some(id), message });
            }
            this.rt.post(&Event::TrainIdle { id, steps: done, paused, memory_bytes: wasm_memory() });
            this.running.set(false);
        });
    }

    /// Does the session's tasks until none is left, or a pause was asked for and the session
    /// stands between two steps; yields before each task so the worker reads its messages.
    async fn drive(&self, session: &mut Session) -> Result<(), String> {
        let mut started = self.rt.now();
        while !session.inner.is_idle() && !(self.pause.get() && session.inner.between_steps()) {
            TimeoutFuture::new(0).await;
            let (id, set) = (session.id, &session.held.set);
            let mut post = |event| {
                if let Some(event) = self.event(id, set, event, &mut started) {
                    self.rt.post(&event);
                }
            };
            session.inner.advance(session.held.models(), &mut post).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The page's event for the session's `event`, timed from the start of its task.
    fn event(&self, id: u64, set: &PreferenceSet, event: SessionEvent, started: &mut f64) -> Option<Event> {
        let now = self.rt.now();
        Some(match event {
            SessionEvent::Stepping { .. } => {
                *started = now;
                return None;
            }
            SessionEvent::Step { lane, step, record, batch } => match record.metrics {
                Some(metrics) => Event::TrainStep { id, lane, metrics, batch: views(set, &batch), millis: now - *started },
                None => Event::TrainRejected { id, lane, step, reason: record.rejected.unwrap_or_default() },
            },
            SessionEvent::Probing { lane } => {
                *started = now;
                Event::TrainProbing { id, lane }
            }
            SessionEvent::Probe { lane, point } => Event::TrainProbe { id, lane, point, millis: now - *started },
            SessionEvent::Evaluating { lane, done, total } => {
                if done == 0 {
                    *started = now;
                }
                Event::TrainEvaluating { id, lane, done, total }
            }
            SessionEvent::Eval { lane, point } => Event::TrainEval { id, lane, point, millis: now - *started },
        })
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

    /// Posts lane `lane`'s files for TRL (between runs), as a task: its pairs (the prompts no
    /// step has reached are analysed first), its set-up for `steps` steps, a README naming
    /// `link`, and its adapters where they can be read (the CPU path).
    pub fn export_trl(&self, id: u64, lane: usize, steps: usize, link: &str) {
        if self.busy(id) {
            return;
        }
        let Some(mut session) = self.session.borrow_mut().take_if(|s| s.id == id) else {
            self.rt.post(&Event::Error { id: Some(id), message: "no such training session; set one up first".into() });
            return;
        };
        self.running.set(true);
        let (this, link) = (self.clone(), link.to_string());
        wasm_bindgen_futures::spawn_local(async move {
            let result = this.trl_zip(&mut session, lane, steps, &link).await;
            *this.session.borrow_mut() = Some(session);
            this.running.set(false);
            match result {
                Ok((zip, adapters)) => this.rt.post(&Event::TrainTrl { id, lane, zip: BASE64.encode(zip), adapters }),
                Err(message) => this.rt.post(&Event::Error { id: Some(id), message }),
            }
        });
    }

    /// Lane `lane`'s TRL files as one zip, and whether its adapters are in it.
    async fn trl_zip(&self, session: &mut Session, lane: usize, steps: usize, link: &str) -> Result<(Vec<u8>, bool), String> {
        let pairs = session.inner.pairs(session.held.models(), lane).await.map_err(|e| e.to_string())?;
        let l = &session.inner.lanes()[lane];
        let method = session.setup.methods[lane];
        let adapters = if self.readable { Some(l.trainer.save_adapters().map_err(|e| e.to_string())?) } else { None };
        let has_adapters = adapters.is_some();
        let one = [export::LaneExport { index: lane, method, pairs: &pairs, adapters }];
        let files = export::files(&session.held.set, &session.setup, &one, steps, link);
        let zip = export::zip(&format!("deviate-trl-{}", export::lane_dir(lane, method)), &files)?;
        Ok((zip, has_adapters))
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
        let steps = session.inner.steps();
        f(session.inner.lanes_mut().get_mut(lane).ok_or("no such lane")?, steps)
    }

    /// Asks session `id` to pause after the step in progress.
    pub fn pause(&self, id: u64) {
        let current = self.stepping.get().or_else(|| self.session.borrow().as_ref().map(|s| s.id));
        if current == Some(id) {
            self.pause.set(true);
        }
    }
}

/// The batch's pairs as the page shows them.
fn views(set: &PreferenceSet, batch: &[PreparedPair]) -> Vec<PairView> {
    batch
        .iter()
        .map(|p| {
            let (prompt, chosen, rejected) = p.texts(set);
            PairView { prompt, chosen, rejected, weight: p.weight, deviation_chosen: p.deviation_chosen }
        })
        .collect()
}
