//! Similarity matrices computed with burn, on whatever `Device` runs the models
//! (WebGPU in the browser, Flex on the CPU).

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};

use crate::core::deviation::DistanceMatrix;
use crate::core::jaccard::{jaccard_from_counts, tokens};

/// A tensor read back from the device failed.
#[derive(Debug, thiserror::Error)]
#[error("reading the similarity matrix back from the device failed: {0}")]
pub struct ReadbackError(String);

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
    let counts: Vec<f32> = intersections
        .into_data_async()
        .await
        .map_err(|e| ReadbackError(format!("{e:?}")))?
        .try_into_vec()
        .map_err(|e| ReadbackError(format!("{e:?}")))?;
    Ok(DistanceMatrix::from_fn(n, |i, j| {
        let common = counts[i * n + j].round() as usize;
        1.0 - jaccard_from_counts(sets[i].len(), sets[j].len(), common)
    }))
}
