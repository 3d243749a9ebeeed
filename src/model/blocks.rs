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
//! The dequantised values are the loader's, bit for bit ([`deviate_blocks`]), and the products
//! are burn's own matmul on them (the backward's too), so a compact model computes what the dense
//! one does, bit for bit.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};
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
}

/// x·W for x [rows, in] and a block-stored W.
#[backend_extension(Flex, Autodiff)]
pub trait BlockProduct: Backend {
    /// x·W: W dequantised on x's device, then burn's matmul.
    fn block_matmul(x: FloatTensor<Self>, w: BlockMatrix) -> FloatTensor<Self> {
        let device = x.device();
        Self::float_matmul(x, Self::float_from_data(w.weight(), &device))
    }
}

impl BlockProduct for Flex {}

/// ∂L/∂y·Wᵀ on `g`'s device, as autodiff's matmul computes it for a dense W.
fn times_transposed<B: Backend>(g: FloatTensor<B>, w: &BlockMatrix) -> FloatTensor<B> {
    let device = g.device();
    B::float_matmul(g, B::float_transpose(B::float_from_data(w.weight(), &device)))
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
