//! SmolLM2's GPT-2 style byte-level BPE, built with the `tokenizers` crate from the vocabulary and
//! merges stored in the GGUF file, and the SmolLM2-Instruct chat template.

use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

use crate::model::gguf::{Gguf, GgufError};

/// The system line of the paper's generation setup.
pub const DEFAULT_SYSTEM: &str = "You write a creative writing based on the user-given writing prompt.";

/// ggml's token type for control tokens (`<|im_start|>`, `<|endoftext|>`, …).
const CONTROL: u64 = 3;

/// Why the tokeniser could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum BpeError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

/// The LM's tokeniser and its stop tokens.
pub struct ChatTokenizer {
    inner: Tokenizer,
    stop: Vec<u32>,
}

fn strings<'a>(gguf: &'a Gguf, key: &str) -> Result<Vec<&'a str>, GgufError> {
    let items = gguf.get(key)?.as_array().ok_or_else(|| GgufError::MissingKey(key.into()))?;
    items.iter().map(|v| v.as_str().ok_or_else(|| GgufError::MissingKey(key.into()))).collect()
}

impl ChatTokenizer {
    /// Builds the tokeniser from `tokenizer.ggml.tokens`, `.merges` and `.token_type` (control
    /// tokens become special tokens), with SmolLM's pre-tokenisation: each digit on its own, then
    /// GPT-2's byte-level split. Stops at `tokenizer.ggml.eos_token_id` and at `<|im_end|>`.
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, BpeError> {
        let model = gguf.get("tokenizer.ggml.model")?.as_str();
        if model != Some("gpt2") {
            return Err(BpeError::Tokenizer(format!("tokenizer.ggml.model is {model:?}, expected \"gpt2\"")));
        }
        let tokens = strings(gguf, "tokenizer.ggml.tokens")?;
        let merges = strings(gguf, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| BpeError::Tokenizer(format!("merge {m:?} has no space")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let vocab: Vocab =
            tokens.iter().enumerate().map(|(i, t)| (t.to_string(), i as u32)).collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| BpeError::Tokenizer(e.to_string()))?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])));
        inner.with_decoder(Some(ByteLevel::default()));
        let types = gguf.get("tokenizer.ggml.token_type")?.as_array().unwrap_or(&[]);
        let special: Vec<AddedToken> = types
            .iter()
            .zip(&tokens)
            .filter(|(t, _)| t.as_u64() == Some(CONTROL))
            .map(|(_, tok)| AddedToken::from(tok.to_string(), true))
            .collect();
        inner.add_special_tokens(special).map_err(|e| BpeError::Tokenizer(e.to_string()))?;
        let eos = gguf.get_u64("tokenizer.ggml.eos_token_id")?;
        let eos = u32::try_from(eos).ok().filter(|&id| (id as usize) < tokens.len());
        let mut stop = vec![eos.ok_or_else(|| BpeError::Tokenizer("tokenizer.ggml.eos_token_id is not a token".into()))?];
        if let Some(id) = inner.token_to_id("<|im_end|>")
            && !stop.contains(&id)
        {
            stop.push(id);
        }
        Ok(Self { inner, stop })
    }

    /// Token ids of `text`, with special tokens written in it (`<|im_start|>`) recognised and no
    /// BOS added (SmolLM2 has none).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, BpeError> {
        let encoding = self.inner.encode(text, false).map_err(|e| BpeError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, BpeError> {
        self.inner.decode(ids, true).map_err(|e| BpeError::Tokenizer(e.to_string()))
    }

    /// Tokens that end a continuation.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// The SmolLM2-Instruct chat template for one system line and one user message, ending where
/// the assistant's reply starts.
pub fn chat_prompt(system: &str, user: &str) -> String {
    format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
}

