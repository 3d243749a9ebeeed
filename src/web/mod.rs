//! The browser: a module worker owns the engine (`worker`), the page is a thin Leptos app
//! that sends typed requests and renders typed events (`bridge`, `app`, `components`).
//! The main thread never runs a model.

mod actions;
mod app;
mod backend;
mod bridge;
mod components;
mod fetch;
mod generation;
mod panic;
pub mod runtime;
mod scope;
mod state;
mod training;
mod worker;

use wasm_bindgen::prelude::*;

pub use backend::init_device;
pub use generation::Generator;
pub use training::Training;

/// Entry point of the page (called by www/main.js after the wasm is initialised) with the
/// worker script's address, which main.js knows (a built site names it by its content hash).
#[wasm_bindgen]
pub fn start_app(worker_url: String) {
    panic::report_panics();
    bridge::set_worker_url(worker_url);
    leptos::mount::mount_to_body(app::App);
}

/// Entry point of the worker (called by www/worker.js with the messages that arrived while
/// the wasm was loading, so none is lost). With `cpu_reason` (a replaced WebGPU worker), it
/// runs on the CPU and shows the reason; `force_software_gpu` (`?gpu=force`) lets it use a
/// software WebGPU adapter.
#[wasm_bindgen]
pub fn start_worker(early_messages: js_sys::Array, cpu_reason: Option<String>, force_software_gpu: bool) {
    worker::report_panics();
    worker::run(early_messages, cpu_reason, force_software_gpu);
}
