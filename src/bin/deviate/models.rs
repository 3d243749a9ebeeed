//! Loading the models that `make models` put in www/models/.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::engine::embed::Embedder;
use deviate::engine::generate::LanguageModel;

/// The LM's file in the models folder.
pub use deviate::engine::generate::GGUF_FILE as GGUF;

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

/// SmolLM2 from `dir` (the Q4_1 GGUF) on `device`.
pub fn language_model(dir: &Path, device: &Device) -> Result<LanguageModel> {
    let path = dir.join(GGUF);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {} (run `make models`)", path.display()))?;
    LanguageModel::from_gguf_bytes(&bytes, device).with_context(|| format!("cannot load {}", path.display()))
}
