//! A tiny random llama and two preference pairs over its vocabulary, shared by the training,
//! probe and browser tests; `gguf` writes the same llama as a GGUF file.

#![allow(dead_code)] // each test binary that includes this module uses part of it

pub mod gguf;

use deviate::engine::train::PairTokens;
use deviate::model::llama::LlamaConfig;

pub fn tiny() -> LlamaConfig {
    LlamaConfig { vocab: 40, hidden: 16, layers: 2, heads: 4, kv_heads: 2, ffn: 24, rms_eps: 1e-5, rope_theta: 1e4, context: 64 }
}

pub fn pairs() -> Vec<PairTokens> {
    vec![
        PairTokens { key: 1, prompt: vec![1, 5, 9], chosen: vec![3, 4, 7, 2], rejected: vec![8, 8, 2], weight: 1.6 },
        PairTokens { key: 2, prompt: vec![6, 2], chosen: vec![11, 12], rejected: vec![13, 14, 15, 16, 2], weight: 0.4 },
    ]
}
