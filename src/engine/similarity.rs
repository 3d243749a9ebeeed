//! Similarity matrices computed with burn, on whatever `Device` runs the models
//! (WebGPU in the browser, Flex on the CPU).

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};

use crate::core::deviation::DistanceMatrix;
use crate::core::jaccard::{jaccard_from_counts, tokens};
use crate::core::similarity::SimilarityKind;
use crate::core::style::style_distances;

use super::embed::{EmbedError, Embedder};

/// A tensor read back from the device failed.
#[derive(Debug, thiserror::Error)]
#[error("reading the similarity matrix back from the device failed: {0}")]
pub struct ReadbackError(String);

/// Why distances could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum SimilarityError {
    #[error("the {0} similarity needs the MiniLM model, which is not loaded")]
    NoEmbedder(SimilarityKind),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Readback(#[from] ReadbackError),
}

/// The distance matrices that `kind` combines (semantic then style for `both`), and the
/// indices of the texts the embedder truncated.
pub async fn distances<S: AsRef<str>>(
    kind: SimilarityKind,
    texts: &[S],
    device: &Device,
    embedder: Option<&Embedder>,
) -> Result<(Vec<DistanceMatrix>, Vec<usize>), SimilarityError> {
    Ok(match kind {
        SimilarityKind::Jaccard => (vec![jaccard_distances(device, texts).await?], Vec::new()),
        SimilarityKind::Style => (vec![style_distances(texts)], Vec::new()),
        SimilarityKind::Semantic | SimilarityKind::Both => {
            let embedder = embedder.ok_or(SimilarityError::NoEmbedder(kind))?;
            let (semantic, truncated) = semantic_distances(embedder, texts).await?;
            let mut kinds = vec![semantic];
            if kind == SimilarityKind::Both {
                kinds.push(style_distances(texts));
            }
            (kinds, truncated)
        }
    })
}

/// Cosine distances of the MiniLM embeddings, and the indices of truncated texts.
pub async fn semantic_distances<S: AsRef<str>>(
    embedder: &Embedder,
    texts: &[S],
) -> Result<(DistanceMatrix, Vec<usize>), EmbedError> {
    let embedded = embedder.embed(texts).await?;
    let vectors: Vec<Vec<f64>> =
        embedded.vectors.iter().map(|v| v.iter().map(|&x| f64::from(x)).collect()).collect();
    let truncated = embedded.truncated.iter().enumerate().filter(|(_, t)| **t).map(|(i, _)| i).collect();
    Ok((DistanceMatrix::cosine(&vectors), truncated))
}

/// Token-Jaccard distances of `texts`, with the set intersections counted on `device`:
/// for the 0/1 token-incidence matrix X (N × V), |A_i ∩ A_j| = (X Xᵀ)_ij. The counts are
/// exact in f32 (below 2^24), and J is then formed in f64 exactly as
/// [`crate::core::jaccard::jaccard_distances`] does, so both give identical numbers.
pub async fn jaccard_distances<S: AsRef<str>>(
    device: &Device,
    texts: &[S],
) -> Result<DistanceMatrix, ReadbackError> {
    let sets: Vec<_> = texts.iter().map(|t| tokens(t.as_ref())).collect();
    let n = sets.len();
    let mut vocabulary = BTreeMap::new();
    for token in sets.iter().flatten() {
        let next = vocabulary.len();
        vocabulary.entry(token.as_str()).or_insert(next);
    }
    if n == 0 || vocabulary.is_empty() {
        return Ok(DistanceMatrix::from_fn(n, |i, j| 1.0 - jaccard_from_counts(sets[i].len(), sets[j].len(), 0)));
    }
    let v = vocabulary.len();
    let mut incidence = vec![0.0f32; n * v];
    for (i, set) in sets.iter().enumerate() {
        for token in set {
            incidence[i * v + vocabulary[token.as_str()]] = 1.0;
        }
    }
    let x = Tensor::<2>::from_data(TensorData::new(incidence, [n, v]), device);
    let intersections = x.clone().matmul(x.transpose());
    let counts = crate::engine::readback::floats(intersections).await.map_err(ReadbackError)?;
    Ok(DistanceMatrix::from_fn(n, |i, j| {
        let common = counts[i * n + j].round() as usize;
        1.0 - jaccard_from_counts(sets[i].len(), sets[j].len(), common)
    }))
}
