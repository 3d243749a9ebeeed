//! The worker's generation task: loads SmolLM2 on the first request (progress, cache), then
//! steps a [`Generation`], posting every token, and yields to the worker's event loop between
//! steps so analyses and a stop request are answered while it runs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::tensor::Device;
use futures::FutureExt;
use futures::future::{LocalBoxFuture, Shared};
use gloo_timers::future::TimeoutFuture;

use crate::engine::generate::{GenerateEvent, GenerateParams, Generation, LanguageModel};
use crate::engine::protocol::{Event, ModelName};

use super::runtime::{Rt, wasm_memory};

/// The LM's file in the manifest.
use crate::engine::generate::GGUF_FILE as LM_FILE;

/// The LM's load, shared by everyone who asks while it runs (single-flight).
type Loading = Shared<LocalBoxFuture<'static, Result<Rc<LanguageModel>, String>>>;

#[derive(Default)]
struct State {
    lm: RefCell<Option<Loading>>,
    /// The generation running now, if any.
    running: Cell<Option<u64>>,
    stop: Cell<bool>,
}

/// Starts generations, one at a time; cheap to clone.
#[derive(Clone)]
pub struct Generator {
    device: Device,
    rt: Rt,
    state: Rc<State>,
}

impl Generator {
    pub fn new(device: Device, rt: Rt) -> Self {
        Self { device, rt, state: Rc::default() }
    }

    /// Where this generator's events go (the training task posts there too).
    pub fn runtime(&self) -> &Rt {
        &self.rt
    }

    /// Starts generation `id` as a task beside the request loop, or refuses it if one runs.
    pub fn start(&self, id: u64, prompt: String, params: GenerateParams) {
        if let Some(other) = self.state.running.get() {
            let message = format!("generation {other} is still running; stop it first");
            self.rt.post(&Event::Error { id: Some(id), message });
            return;
        }
        self.state.running.set(Some(id));
        self.state.stop.set(false);
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(message) = this.run(id, &prompt, &params).await {
                this.rt.post(&Event::Error { id: Some(id), message });
            }
            this.state.running.set(None);
        });
    }

    /// Asks generation `id` to stop after its current step.
    pub fn stop(&self, id: u64) {
        if self.state.running.get() == Some(id) {
            self.state.stop.set(true);
        }
    }

    /// The LM, loaded (with progress events) on first use; requests that arrive while it loads
    /// wait for the same load. A failed load is tried again on the next request.
    pub async fn model(&self) -> Result<Rc<LanguageModel>, String> {
        let loading = self.state.lm.borrow_mut().get_or_insert_with(|| load(self.device.clone(), self.rt.clone()).boxed_local().shared()).clone();
        let result = loading.await;
        if result.is_err() {
            self.state.lm.borrow_mut().take();
        }
        result
    }

    async fn run(&self, id: u64, prompt: &str, params: &GenerateParams) -> Result<(), String> {
        let lm = self.model().await?;
        let started = self.rt.now();
        let mut generation = Generation::start(&lm, prompt, params).await.map_err(|e| e.to_string())?;
        self.rt.post(&Event::GenerationStarted { id, prompt_tokens: generation.prompt_ids().len() });
        let mut tokens = 0;
        while !generation.is_done() {
            // Let the worker read its messages (a stop, an analysis) between steps.
            TimeoutFuture::new(0).await;
            let events = if self.state.stop.get() {
                generation.cancel()
            } else {
                generation.step().await
            };
            for event in events.map_err(|e| e.to_string())? {
                match event {
                    GenerateEvent::Token { index, delta, .. } => self.rt.post(&Event::Token { id, index, delta }),
                    GenerateEvent::Finished { index, continuation } => {
                        tokens += continuation.token_ids.len();
                        self.rt.post(&Event::ContinuationDone { id, index, continuation })
                    }
                }
            }
        }
        let stopped = self.state.stop.get();
        self.rt.post(&Event::GenerationDone { id, tokens, millis: self.rt.now() - started, stopped });
        Ok(())
    }
}

/// Loads the LM's file (cache or network, with progress) and builds the model on `device`.
async fn load(device: Device, rt: Rt) -> Result<Rc<LanguageModel>, String> {
    let started = rt.now();
    let result = async {
        let (files, cached) = rt.load_files(ModelName::Lm, &[LM_FILE]).await?;
        let lm = LanguageModel::from_gguf_bytes(&files[0], &device).map_err(|e| format!("{LM_FILE}: {e}"))?;
        Ok::<_, String>((lm, cached))
    }
    .await;
    match result {
        Ok((lm, cached)) => {
            rt.post(&Event::ModelReady { model: ModelName::Lm, cached, millis: rt.now() - started, memory_bytes: wasm_memory() });
            Ok(Rc::new(lm))
        }
        Err(message) => {
            rt.post(&Event::ModelError { model: ModelName::Lm, message: message.clone() });
            Err(message)
        }
    }
}
