//! The dedicated worker the tasks run in, as their [`Runtime`]: events go to the page, the clock
//! is the worker's, model files come from the Cache API or the network ([`fetch::load_files`]).

use futures::future::LocalBoxFuture;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::DedicatedWorkerGlobalScope;

use crate::engine::protocol::{Event, ModelName};

use super::fetch;
use super::runtime::{Files, Runtime};

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
