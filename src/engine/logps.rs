//! Log-probs of completions under SmolLM2 (adapters on or off): the per-row sums and means the
//! losses read, the chosen rows' NLL for ORPO/DORPO, and the probe's completions after one shared
//! prompt. The vocabulary head runs only on the positions a loss reads.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::engine::batch::{PairTokens, TrainError};
use crate::model::llama::{Adapters, KvCache, Llama};

/// Summed and mean completion log-probs per row ([2P]: chosen rows, then rejected rows), and
/// (for ORPO/DORPO) minus the summed log-probs of every token of the chosen rows, prompt and
/// completion: TRL's ORPOTrainer's NLL term is over the whole chosen sequence.
pub(crate) struct SequenceLogps {
    pub sum: Tensor<1>,
    pub mean: Tensor<1>,
    pub chosen_nll_sum: Option<Tensor<1>>,
}

/// The tokens the chosen rows' NLL averages over: every position of prompt + chosen that
/// predicts a next token.
pub(crate) fn nll_tokens(pairs: &[PairTokens]) -> usize {
    pairs.iter().map(|p| p.prompt.len() + p.chosen.len() - 1).sum()
}

pub(crate) async fn read(x: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    crate::engine::readback::floats(x).await.map_err(TrainError::Readback)
}

/// Log-probs of `pairs` under `model` (adapters on or off): chosen rows, then rejected rows;
/// with `nll`, also the chosen rows' cross-entropy.
pub(crate) fn sequence_logps(model: &Llama, pairs: &[PairTokens], adapters: Adapters, nll: bool, device: &Device) -> SequenceLogps {
    let rows: Vec<(usize, Vec<u32>)> = pairs
        .iter()
        .map(|pair| (pair.prompt.len(), [pair.prompt.as_slice(), &pair.chosen].concat()))
        .chain(pairs.iter().map(|pair| (pair.prompt.len(), [pair.prompt.as_slice(), &pair.rejected].concat())))
        .collect();
    row_logps(model, &rows, if nll { pairs.len() } else { 0 }, adapters, device)
}

/// Mean per-token log-prob of each completion after `prompt` under `model` (quality proxy).
pub async fn mean_completion_logps(
    model: &Llama,
    prompt: &[u32],
    completions: &[Vec<u32>],
    adapters: Adapters,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let rows: Vec<(usize, Vec<u32>)> = completions.iter().map(|c| (prompt.len(), [prompt, c.as_slice()].concat())).collect();
    read(row_logps(model, &rows, 0, adapters, device).mean).await
}

/// Summed log-prob of each completion after its prompt under `model`: `rows` are (prompt ids,
/// completion ids incl. the end token). The same computation the trainer's loss reads.
pub async fn completion_logp_sums(
    model: &Llama,
    rows: &[(Vec<u32>, Vec<u32>)],
    adapters: Adapters,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let rows: Vec<(usize, Vec<u32>)> = rows.iter().map(|(p, c)| (p.len(), [p.as_slice(), c.as_slice()].concat())).collect();
    read(row_logps(model, &rows, 0, adapters, device).sum).await
}

/// Summed log-prob of each of `completions` (ids incl. the end token) after one shared
/// `prompt` under `model`: the prompt runs once and its keys and values serve every completion,
/// so several responses to one prompt (the probe's) cost one prompt pass, not one each. The
/// prompt's last position predicts every completion's first token; completion position j
/// predicts token j + 1 (rows padded on the right, which causal attention never reads). Equal
/// to [`completion_logp_sums`] on the same sequences up to rounding.
pub async fn shared_prompt_logp_sums(
    model: &Llama,
    prompt: &[u32],
    completions: &[Vec<u32>],
    adapters: Adapters,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let n = completions.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    if prompt.is_empty() {
        return Err(TrainError::EmptyPrompt);
    }
    if let Some(empty) = completions.iter().position(Vec::is_empty) {
        return Err(TrainError::EmptyCompletion(empty as u64));
    }
    let ids = |values: Vec<i64>, rows: usize| {
        let cols = values.len() / rows;
        Tensor::<2, Int>::from_data(TensorData::new(values, [rows, cols]), device)
    };
    let mut cache = KvCache::default();
    let hidden = model.forward(ids(prompt.iter().map(|&id| i64::from(id)).collect(), 1), &mut cache, None, adapters);
    let [_, p, width] = hidden.dims();
    let first_ids: Vec<i64> = completions.iter().map(|c| i64::from(c[0])).collect();
    let first_ids = Tensor::<1, Int>::from_data(TensorData::new(first_ids, [n]), device);
    let last = hidden.narrow(1, p - 1, 1).reshape([1, width]);
    let mut sums = log_softmax(model.logits(last), 1).select(1, first_ids).reshape([n]);
    let t = completions.iter().map(|c| c.len() - 1).max().unwrap_or(0);
    if t > 0 {
        let (mut grid, mut picked, mut targets, mut select) = (vec![0i64; n * t], Vec::new(), Vec::new(), Vec::new());
        for (row, c) in completions.iter().enumerate() {
            for pos in 0..c.len() - 1 {
                grid[row * t + pos] = i64::from(c[pos]);
                picked.push((row * t + pos) as i64);
                targets.push(i64::from(c[pos + 1]));
                select.push(row);
            }
        }
        let m = picked.len();
        let mut matrix = vec![0f32; n * m];
        select.iter().enumerate().for_each(|(k, &row)| matrix[row * m + k] = 1.0);
        cache.repeat(n);
        let hidden = model.forward(ids(grid, n), &mut cache, None, adapters).reshape([n * t, width]);
        let picked = Tensor::<1, Int>::from_data(TensorData::new(picked, [m]), device);
        let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [m, 1]), device);
        let token_logp = log_softmax(model.logits(hidden.select(0, picked)), 1).gather(1, targets);
        let matrix = Tensor::<2>::from_data(TensorData::new(matrix, [n, m]), device);
        sums = sums + matrix.matmul(token_logp).reshape([n]);
    }
    read(sums).await
}

/// Log-probs of `rows` = (prompt length, prompt + completion ids); the cross-entropy is over
/// every token of the first `nll_rows` rows (none when 0).
///
/// The vocabulary head (576 × 49,152) and its log-softmax are the costliest part of a step,
/// so they run only on the positions a loss reads: completion tokens, plus the NLL rows' prompt
/// tokens, never padding. Per-row sums are then a product with a 0/1 selection matrix.
fn row_logps(model: &Llama, rows: &[(usize, Vec<u32>)], nll_rows: usize, adapters: Adapters, device: &Device) -> SequenceLogps {
    // Position t reads token t and predicts token t + 1; rows are padded on the right.
    let t = rows.iter().map(|(_, ids)| ids.len() - 1).max().unwrap_or(1);
    let r = rows.len();
    let mut ids = vec![0i64; r * t];
    let (mut picked, mut targets) = (Vec::new(), Vec::new());
    // Which picked positions are a row's completion, and which count in the NLL.
    let (mut completion, mut in_nll) = (Vec::new(), Vec::new());
    for (row, (prompt_len, seq)) in rows.iter().enumerate() {
        for pos in 0..seq.len() - 1 {
            ids[row * t + pos] = seq[pos] as i64;
            let is_completion = pos + 1 >= *prompt_len;
            if is_completion || row < nll_rows {
                picked.push((row * t + pos) as i64);
                targets.push(seq[pos + 1] as i64);
                completion.push((row, is_completion));
                in_nll.push(row < nll_rows);
            }
        }
    }
    let n = picked.len();
    let mut select = vec![0f32; r * n];
    for (k, &(row, is_completion)) in completion.iter().enumerate() {
        if is_completion {
            select[row * n + k] = 1.0;
        }
    }
    let counts: Vec<f32> = (0..r).map(|row| select[row * n..(row + 1) * n].iter().sum()).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [r, t]), device);
    let picked = Tensor::<1, Int>::from_data(TensorData::new(picked, [n]), device);
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [n, 1]), device);
    let select = Tensor::<2>::from_data(TensorData::new(select, [r, n]), device);
    let count = Tensor::<1>::from_data(TensorData::new(counts, [r]), device);
    let hidden = model.forward(ids, &mut KvCache::default(), None, adapters);
    let [_, _, width] = hidden.dims();
    let hidden = hidden.reshape([r * t, width]).select(0, picked);
    let token_logp = log_softmax(model.logits(hidden), 1).gather(1, targets); // [n, 1]
    let sum = select.matmul(token_logp.clone()).reshape([r]);
    let mean = sum.clone() / count;
    let chosen_nll_sum = (nll_rows > 0).then(|| {
        let weights: Vec<f32> = in_nll.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect();
        let weights = Tensor::<2>::from_data(TensorData::new(weights, [1, n]), device);
        weights.matmul(token_logp).reshape([1]).neg()
    });
    SequenceLogps { sum, mean, chosen_nll_sum }
}
