//! What the worker's tasks need from where they run: a place to post events, a clock, and the
//! model files. The worker hands its tasks a [`WorkerScope`]; anything else that implements
//! [`Runtime`] (a recorder with files in memory, in tests/web.rs) can drive them instead. The
//! tasks import this module, not the worker, so dependencies run one way: worker → tasks
//! (generation, training) → runtime.

use std::rc::Rc;

use futures::future::LocalBoxFuture;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::DedicatedWorkerGlobalScope;

use crate::engine::protocol::{Event, ModelName};

use super::fetch;

/// Model files' bytes in order, and whether all came from the cache; or why not.
pub type Files = Result<(Vec<Vec<u8>>, bool), String>;

pub trait Runtime {
    /// Sends `event` to the page.
    fn post(&self, event: &Event);
    /// Milliseconds from a fixed origin.
    fn now(&self) -> f64;
    /// The bytes of the model files `names` (in order), with progress events for `model`, and
    /// whether all of them came from the cache.
    fn load_files<'a>(&'a self, model: ModelName, names: &'a [&'a str]) -> LocalBoxFuture<'a, Files>;
}

/// A shared runtime, as the tasks hold it.
pub type Rt = Rc<dyn Runtime>;

/// The dedicated worker the tasks run in.
pub struct WorkerScope;

impl Runtime for WorkerScope {
    fn post(&self, event: &Event) {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        if let Err(error) = scope.post_message(&JsValue::from_str(&event.to_json())) {
            web_sys::console::error_2(&"deviate worker: cannot post an event".into(), &error);
        }
    }

    fn now(&self) -> f64 {
        js_sys::Reflect::get(&js_sys::global(), &"performance".into())
            .ok()
            .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
            .map_or(0.0, |p| p.now())
    }

    /// From the Cache API or the network, checked against the manifest ([`fetch::load_files`]).
    fn load_files<'a>(&'a self, model: ModelName, names: &'a [&'a str]) -> LocalBoxFuture<'a, Files> {
        Box::pin(fetch::load_files(self, model, names))
    }
}

/// Bytes of the worker's wasm memory (where the CPU path keeps the weights).
pub fn wasm_memory() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0.0, |b| b.byte_length() as f64)
}
