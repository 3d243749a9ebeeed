//! What the worker's tasks need from where they run: a place to post events, a clock, and the
//! model files. The worker hands its tasks a `WorkerScope` (scope.rs); anything else that
//! implements [`Runtime`] (a recorder with files in memory, in tests/web.rs) can drive them
//! instead. The tasks import this module, not the worker, so dependencies run one way: worker →
//! tasks (generation, training) → runtime.

use std::rc::Rc;

use futures::future::LocalBoxFuture;

use wasm_bindgen::JsCast;

use crate::engine::protocol::{Event, ModelName};

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

/// Bytes of the worker's wasm memory (where the CPU path keeps the weights).
pub fn wasm_memory() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0.0, |b| b.byte_length() as f64)
}
