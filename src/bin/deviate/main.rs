//! `deviate`: the native command line over Deviate's core and engine.
//! (Native only: `cargo test --target wasm32-unknown-unknown` builds it as an empty program.)

#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod bench_lesson;
#[cfg(not(target_arch = "wasm32"))]
mod bench_matmul;
#[cfg(not(target_arch = "wasm32"))]
mod bench_work;
#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod deviation;
#[cfg(not(target_arch = "wasm32"))]
mod devices;
#[cfg(not(target_arch = "wasm32"))]
mod embed;
#[cfg(not(target_arch = "wasm32"))]
mod experiment;
#[cfg(not(target_arch = "wasm32"))]
mod export_trl;
#[cfg(not(target_arch = "wasm32"))]
mod generate;
#[cfg(not(target_arch = "wasm32"))]
mod heap;
#[cfg(not(target_arch = "wasm32"))]
mod input;
#[cfg(not(target_arch = "wasm32"))]
mod lanes;
#[cfg(not(target_arch = "wasm32"))]
mod link;
#[cfg(not(target_arch = "wasm32"))]
mod loss;
#[cfg(not(target_arch = "wasm32"))]
mod models;
#[cfg(not(target_arch = "wasm32"))]
mod pairs;
#[cfg(not(target_arch = "wasm32"))]
mod ratings;
#[cfg(not(target_arch = "wasm32"))]
mod train;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    heap::keep_freed_memory();
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
