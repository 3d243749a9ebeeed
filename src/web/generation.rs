//! The worker's generation task: loads SmolLM2 on the first request (progress, cache), then
//! steps a [`Generation`], posting every token, and yields to the worker's event loop between
//! steps so analyses and a stop request are answered while it runs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::tensor::Device;
use futures::FutureExt;
use futures::future::{LocalBoxFuture, Shared};
use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;

use crate::engine::generate::{GenerateEvent, GenerateParams, Generation, LanguageModel};
use crate::engine::protocol::{Event, ModelName};

use super::worker::{load_files, now, post};

/// The LM's file in the manifest.
const LM_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Bytes of the worker's wasm memory (where the CPU path keeps the weights).
pub fn wasm_memory() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0.0, |b| b.byte_length() as f64)
}

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
    state: Rc<State>,
}

impl Generator {
    pub fn new(device: Device) -> Self {
        Self { device, state: Rc::default() }
    }

    /// Starts generation `id` as a task beside the request loop, or refuses it if one runs.
    pub fn start(&self, id: u64, prompt: String, params: GenerateParams) {
        if let Some(other) = self.state.running.get() {
            let message = format!("generation {other} is still running; stop it first");
            post(&Event::Error { id: Some(id), message });
            return;
        }
        self.state.running.set(Some(id));
        self.state.stop.set(false);
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(message) = this.run(id, &prompt, &params).await {
                post(&Event::Error { id: Some(id), message });
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
        let loading = self.state.lm.borrow_mut().get_or_insert_with(|| load(self.device.clone()).boxed_local().shared()).clone();
        let result = loading.await;
        if result.is_err() {
            self.state.lm.borrow_mut().take();
        }
        result
    }

    async fn run(&self, id: u64, prompt: &str, params: &GenerateParams) -> Result<(), String> {
        let lm = self.model().await?;
        let started = now();
        let mut generation = Generation::start(&lm, prompt, params).await.map_err(|e| e.to_string())?;
        post(&Event::GenerationStarted { id, prompt_tokens: generation.prompt_ids().len() });
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
                    GenerateEvent::Token { index, delta, .. } => post(&Event::Token { id, index, delta }),
                    GenerateEvent::Finished { index, continuation } => {
                        tokens += continuation.token_ids.len();
                        post(&Event::ContinuationDone { id, index, continuation })
                    }
                }
            }
        }
        let stopped = self.state.stop.get();
        post(&Event::GenerationDone { id, tokens, millis: now() - started, stopped });
        Ok(())
    }
}

/// Loads the LM's file (cache or network, with progress) and builds the model on `device`.
async fn load(device: Device) -> Result<Rc<LanguageModel>, String> {
    let started = now();
    let result = async {
        let (files, cached) = load_files(ModelName::Lm, &[LM_FILE]).await?;
        let lm = LanguageModel::from_gguf_bytes(&files[0], &device).map_err(|e| format!("{LM_FILE}: {e}"))?;
        Ok::<_, String>((lm, cached))
    }
    .await;
    match result {
        Ok((lm, cached)) => {
            post(&Event::ModelReady { model: ModelName::Lm, cached, millis: now() - started, memory_bytes: wasm_memory() });
            Ok(Rc::new(lm))
        }
        Err(message) => {
            post(&Event::ModelError { model: ModelName::Lm, message: message.clone() });
            Err(message)
        }
    }
}
