//! The worker's generation task: loads SmolLM2 on the first request (progress, cache), then
//! steps a [`Generation`], posting every token, and yields to the worker's event loop between
//! steps so analyses and a stop request are answered while it runs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::tensor::Device;
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

#[derive(Default)]
struct State {
    lm: RefCell<Option<Rc<LanguageModel>>>,
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

    /// The LM, loaded (with progress events) on first use.
    pub async fn model(&self) -> Result<Rc<LanguageModel>, String> {
        if let Some(lm) = self.state.lm.borrow().clone() {
            return Ok(lm);
        }
        let started = now();
        let result = async {
            let (files, cached) = load_files(ModelName::Lm, &[LM_FILE]).await?;
            let lm = LanguageModel::from_gguf_bytes(&files[0], &self.device).map_err(|e| format!("{LM_FILE}: {e}"))?;
            Ok::<_, String>((lm, cached))
        }
        .await;
        match result {
            Ok((lm, cached)) => {
                let lm = Rc::new(lm);
                *self.state.lm.borrow_mut() = Some(lm.clone());
                let millis = now() - started;
                post(&Event::ModelReady { model: ModelName::Lm, cached, millis, memory_bytes: wasm_memory() });
                Ok(lm)
            }
            Err(message) => {
                post(&Event::ModelError { model: ModelName::Lm, message: message.clone() });
                Err(message)
            }
        }
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
