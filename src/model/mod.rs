//! burn modules and their loading: the MiniLM encoder, SmolLM2 (GGUF) and tokenisers.

pub mod activation;
pub mod bert;
pub mod blocks;
pub mod device;
pub mod bpe;
pub mod gguf;
pub mod head;
pub mod llama;
pub mod lora;
pub mod tokenizer;
