//! Compact projections: a frozen weight kept in the GGUF's Q4_1 values and scales (0.75 bytes a
//! weight instead of f32's 4) and dequantised for each product, on the CPU (Flex), where the model's memory
//! is the page worker's.
//!
//! The product is a burn backend extension with its own backward pass: autodiff's matmul would
//! keep each layer's dequantised f32 weight alive until the backward pass — every weight of the
//! model at once during a training pass. Here backward keeps only the 4-bit values and scales and
//! dequantises the weight again: y = x·W gives ∂L/∂x = ∂L/∂y·Wᵀ. The weight is frozen (LoRA trains
//! only its adapters), so there is no ∂L/∂W.
//!
//! A product of more than [`FUSED_ROWS`] rows (a prompt, a training pass, its backward)
//! dequantises W — the loader's values, bit for bit ([`deviate_blocks`]) — and runs burn's own
//! matmul on it, so it computes what the dense model does, bit for bit. A product of fewer rows
//! (decoding) runs straight from the blocks ([`Columns::product`]): the same sums in another
//! order, so within float rounding of the dense model's, and the same bits on every run.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Tensor, TensorData};
use deviate_blocks::Columns;

/// A frozen [in, out] weight W in 4-bit blocks ([`Columns`]), shared by every clone of the model.
#[derive(Clone, Debug)]
pub struct BlockMatrix(Arc<Columns>);

impl BlockMatrix {
    /// From the checkpoint's Q4_1 blocks of Wᵀ, as stored: `outputs` rows of `inputs` values.
    pub fn new(blocks: &[u8], outputs: usize, inputs: usize) -> Self {
        Self(Arc::new(Columns::from_rows(blocks, outputs, inputs)))
    }

    /// W's [in, out] shape.
    pub fn shape(&self) -> [usize; 2] {
        self.0.shape()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.0.bytes()
    }

    /// W, [in, out].
    pub fn weight(&self) -> TensorData {
        TensorData::new(self.0.dequantize(), self.shape())
    }

    /// Wᵀ, [out, in], laid out row by row (not a transposed view of W).
    pub fn transposed_weight(&self) -> TensorData {
        let [inputs, outputs] = self.shape();
        TensorData::new(self.0.dequantize_transposed(), [outputs, inputs])
    }
}

/// x·W for x [rows, in] and a block-stored W.
#[backend_extension(Flex, Autodiff)]
pub trait BlockProduct: Backend {
    /// x·W: W dequantised on x's device, then burn's matmul.
    fn block_matmul(x: FloatTensor<Self>, w: BlockMatrix) -> FloatTensor<Self> {
        dequantised::<Self>(x, &w)
    }
}

/// x·W with W dequantised on x's device, then burn's matmul.
fn dequantised<B: Backend>(x: FloatTensor<B>, w: &BlockMatrix) -> FloatTensor<B> {
    let device = x.device();
    B::float_matmul(x, B::float_from_data(w.weight(), &device))
}

/// Products of at most this many rows (decoding: one a continuation) run straight from the
/// blocks ([`Columns::product`]): no f32 copy of W. Measured here against dequantising and
/// gemm for SmolLM2's shapes: 2.4-3.3× faster at 1 row, 1.4-2.0× at 8, 1.0-1.6× at 16, slower at 32.
const FUSED_ROWS: usize = 16;

impl BlockProduct for Flex {
    fn block_matmul(x: FloatTensor<Self>, w: BlockMatrix) -> FloatTensor<Self> {
        let rows = x.layout().shape()[0];
        if rows > FUSED_ROWS || x.dtype() != DType::F32 {
            return dequantised::<Self>(x, &w);
        }
        let x = if x.as_slice::<f32>().is_some() { x } else { x.to_contiguous() };
        let y = w.0.product(x.as_slice::<f32>().expect("a contiguous f32 tensor"), rows);
        FlexTensor::from_data(TensorData::new(y, [rows, w.shape()[1]]))
    }
}

/// ∂L/∂y·Wᵀ on `g`'s device, with Wᵀ dequantised row by row: gemm's AVX-512 kernel ran the
/// product with W's transposed view (what autodiff's matmul passes for a dense W) at 0.4× the
/// speed for SmolLM2's gate and up projections.
fn times_transposed<B: Backend>(g: FloatTensor<B>, w: &BlockMatrix) -> FloatTensor<B> {
    let device = g.device();
    B::float_matmul(g, B::float_from_data(w.transposed_weight(), &device))
}

#[derive(Debug)]
struct BlockMatmulBackward;

impl<B: Backend> Backward<B, 1> for BlockMatmulBackward {
    type State = BlockMatrix;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let w = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| times_transposed::<B>(g, &w));
    }
}

impl<B: BlockProduct, C: CheckpointStrategy> BlockProduct for Autodiff<B, C> {
    fn block_matmul(x: FloatTensor<Self>, w: BlockMatrix) -> FloatTensor<Self> {
        match BlockMatmulBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::block_matmul(x.into_primitive(), w.clone());
                prep.finish(w, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::block_matmul(x.into_primitive(), w)),
        }
    }
}

/// x·W, [rows, out], for x [rows, in] on the CPU (Flex, with or without autodiff).
pub fn matmul(x: Tensor<2>, w: &BlockMatrix) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as BlockProduct>::block_matmul(x.into_dispatch(), w.clone()))
}
