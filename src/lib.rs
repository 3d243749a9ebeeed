//! Deviate: deviation-weighted preference optimisation (DDPO/DORPO, Chung et al., 2025),
//! in the browser and on the command line.
//!
//! `core` is the paper's method, pure; `engine` runs it on burn's `Device`; `page` is the
//! page's state and how events change it (plain Rust); `web` is the browser: the worker that
//! owns the engine, and the Leptos page that renders the state.

pub mod core;
pub mod engine;
pub mod model;
pub mod page;
#[cfg(target_arch = "wasm32")]
pub mod web;
