//! Tokeniser builders over the `tokenizers` crate.

use tokenizers::{Tokenizer, TruncationParams};

/// Longest input the embedder reads, in tokens (including [CLS] and [SEP]); longer texts are
/// truncated and flagged.
pub const MAX_EMBED_TOKENS: usize = 256;

/// A tokenised batch, padded on the right to its longest member.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenBatch {
    /// Token ids, [batch × length], row-major, 0 where padded.
    pub ids: Vec<i64>,
    /// 1 for a real token, 0 for padding, same shape as `ids`.
    pub mask: Vec<f32>,
    pub batch: usize,
    pub length: usize,
    /// Whether each text was cut at [`MAX_EMBED_TOKENS`].
    pub truncated: Vec<bool>,
}

/// Why a tokeniser could not be built or run.
#[derive(Debug, thiserror::Error)]
#[error("tokenizer: {0}")]
pub struct TokenizerError(String);

/// The MiniLM WordPiece tokeniser from the checkpoint's tokenizer.json (lowercase, accents
/// stripped), with the file's fixed padding to 128 removed and truncation at
/// [`MAX_EMBED_TOKENS`].
pub struct WordPiece {
    inner: Tokenizer,
}

impl WordPiece {
    pub fn from_json(json: &[u8]) -> Result<Self, TokenizerError> {
        let mut inner = Tokenizer::from_bytes(json).map_err(|e| TokenizerError(e.to_string()))?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams { max_length: MAX_EMBED_TOKENS, ..Default::default() }))
            .map_err(|e| TokenizerError(e.to_string()))?;
        Ok(Self { inner })
    }

    /// Token ids of one text, with [CLS] and [SEP].
    pub fn ids(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self.inner.encode(text, true).map_err(|e| TokenizerError(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Tokenises `texts` into one right-padded batch.
    pub fn batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<TokenBatch, TokenizerError> {
        let mut rows = Vec::with_capacity(texts.len());
        let mut truncated = Vec::with_capacity(texts.len());
        for text in texts {
            let encoding = self.inner.encode(text.as_ref(), true).map_err(|e| TokenizerError(e.to_string()))?;
            truncated.push(!encoding.get_overflowing().is_empty());
            rows.push(encoding.get_ids().to_vec());
        }
        let length = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = vec![0i64; rows.len() * length];
        let mut mask = vec![0.0f32; rows.len() * length];
        for (r, row) in rows.iter().enumerate() {
            for (c, &id) in row.iter().enumerate() {
                ids[r * length + c] = id as i64;
                mask[r * length + c] = 1.0;
            }
        }
        Ok(TokenBatch { ids, mask, batch: rows.len(), length, truncated })
    }
}
