//! burn modules and their loading: the MiniLM encoder and tokenisers.

pub mod bert;
pub mod tokenizer;
