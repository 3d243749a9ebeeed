//! Reading a tensor back from its device: the one place the engine waits for the device (on a
//! GPU, a round trip through the queue). Counted, so a benchmark can say how many round trips a
//! decoding step or a training step asks for (reads inside burn itself are not counted).

use std::sync::atomic::{AtomicU64, Ordering};

use burn::tensor::Tensor;

static READS: AtomicU64 = AtomicU64::new(0);

/// Readbacks the engine has asked for in this process so far.
pub fn count() -> u64 {
    READS.load(Ordering::Relaxed)
}

/// The tensor's values, in row-major order; the error is the device's, as text.
pub async fn floats<const D: usize>(x: Tensor<D>) -> Result<Vec<f32>, String> {
    READS.fetch_add(1, Ordering::Relaxed);
    x.into_data_async().await.map_err(|e| format!("{e:?}"))?.try_into_vec().map_err(|e| format!("{e:?}"))
}
