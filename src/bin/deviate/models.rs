//! Loading the models that `make models` put in www/models/.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::engine::embed::Embedder;

/// The MiniLM embedder from `dir` (model.safetensors, tokenizer.json) on `device`.
pub fn embedder(dir: &Path, device: &Device) -> Result<Embedder> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("cannot read {} (run `make models`)", path.display()))
    };
    let weights = read("model.safetensors")?;
    let tokenizer = read("tokenizer.json")?;
    Embedder::from_bytes(weights, &tokenizer, device).context("cannot load the MiniLM embedder")
}
