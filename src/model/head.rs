//! SmolLM2's tied output head, logits = h·E for hidden states h [rows, hidden] and the token
//! embeddings E [hidden, vocab], as a burn backend extension with its own backward pass.
//!
//! Autodiff's matmul computes ∂L/∂h = ∂L/∂logits·Eᵀ with E's transposed view as the right
//! factor; gemm's AVX-512 kernel ran that product (80 positions, k = 49,152, n = 576) at 70
//! GFLOP/s here, against 280 for the same sums as E·(∂L/∂logits)ᵀ with the gradient transposed
//! into rows first (a copy of rows × vocab values, not of E). So on the CPU (Flex) the backward
//! pass computes ∂L/∂h = (E·gᵀ)ᵀ; a GPU runs burn's own matmul and its backward ([`logits`]).
//! ∂L/∂E = hᵀ·∂L/∂logits where E is trained (LoRA freezes it).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use crate::model::device::is_cpu;

/// h·E and its gradient with respect to h.
#[backend_extension(Flex, Autodiff)]
pub trait TiedHead: Backend {
    /// h·E.
    fn head(h: FloatTensor<Self>, e: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(h, e)
    }

    /// g·Eᵀ for g = ∂L/∂logits [rows, vocab]: [rows, hidden].
    fn head_input_grad(g: FloatTensor<Self>, e: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(g, Self::float_transpose(e))
    }
}

impl TiedHead for Flex {
    /// (E·gᵀ)ᵀ, with gᵀ laid out row by row: every factor of the product read in rows.
    fn head_input_grad(g: FloatTensor<Self>, e: FloatTensor<Self>) -> FloatTensor<Self> {
        let rows_of_g_transposed = Flex::float_transpose(g).to_contiguous();
        Flex::float_transpose(Flex::float_matmul(e, rows_of_g_transposed)).to_contiguous()
    }
}

#[derive(Debug)]
struct HeadBackward;

impl<B: TiedHead> Backward<B, 2> for HeadBackward {
    /// h where E is tracked (for ∂L/∂E), E where h is tracked (for ∂L/∂h).
    type State = (Option<FloatTensor<B>>, Option<FloatTensor<B>>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (h, e) = ops.state;
        binary::<B, _, _>(
            ops.parents,
            ops.node,
            grads,
            |g| B::head_input_grad(g, e.expect("E is kept while h is tracked")),
            |g| B::float_matmul(B::float_transpose(h.expect("h is kept while E is tracked")), g),
        );
    }
}

impl<B: TiedHead, C: CheckpointStrategy> TiedHead for Autodiff<B, C> {
    fn head(h: FloatTensor<Self>, e: FloatTensor<Self>) -> FloatTensor<Self> {
        let (h_tracked, e_tracked) = (h.is_tracked(), e.is_tracked());
        match HeadBackward.prepare::<C>([h.node(), e.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (h, e) = (h.into_primitive(), e.into_primitive());
                let state = (e_tracked.then(|| h.clone()), h_tracked.then(|| e.clone()));
                prep.finish(state, B::head(h, e))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::head(h.into_primitive(), e.into_primitive())),
        }
    }
}

/// h·E, [rows, vocab]: the extension on the CPU (with or without autodiff), burn's matmul
/// elsewhere (the extension is routed to Flex and autodiff only).
pub fn logits(h: Tensor<2>, e: Tensor<2>) -> Tensor<2> {
    if !is_cpu(&h.device()) {
        return h.matmul(e);
    }
    Tensor::from_dispatch(<Dispatch as TiedHead>::head(h.into_dispatch(), e.into_dispatch()))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    fn values(x: Tensor<2>) -> Vec<f32> {
        x.into_data().try_into_vec::<f32>().unwrap()
    }

    /// Largest |a − b| over the largest |b|.
    fn relative_gap(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    /// The same logits as burn's matmul, and through autodiff the same gradients for h and for
    /// E (each tracked alone and both together), to float rounding of the sums' order.
    #[test]
    fn matches_burns_matmul_and_its_gradients() {
        let device = Device::flex();
        let (rows, hidden, vocab) = (7, 48, 300);
        let h = Tensor::<2>::random([rows, hidden], Distribution::Normal(0.0, 1.0), &device);
        let e = Tensor::<2>::random([hidden, vocab], Distribution::Normal(0.0, 1.0), &device);
        let ours = values(super::logits(h.clone(), e.clone()));
        assert_eq!(ours, values(h.clone().matmul(e.clone())), "the forward pass is burn's matmul");

        let autodiff = device.autodiff();
        let upstream = Tensor::<2>::random([rows, vocab], Distribution::Normal(0.0, 1.0), &autodiff);
        let gradients = |ours: bool, track_h: bool, track_e: bool| {
            let mut x = Tensor::<2>::from_data(h.to_data(), &autodiff);
            let mut w = Tensor::<2>::from_data(e.to_data(), &autodiff);
            if track_h {
                x = x.require_grad();
            }
            if track_e {
                w = w.require_grad();
            }
            let y = if ours { super::logits(x.clone(), w.clone()) } else { x.clone().matmul(w.clone()) };
            let grads = (y * upstream.clone()).sum().backward();
            (x.grad(&grads).map(values), w.grad(&grads).map(values))
        };
        for (track_h, track_e) in [(true, false), (false, true), (true, true)] {
            let (ours_h, ours_e) = gradients(true, track_h, track_e);
            let (burns_h, burns_e) = gradients(false, track_h, track_e);
            assert_eq!((ours_h.is_some(), ours_e.is_some()), (track_h, track_e), "a gradient for each tracked factor");
            for (ours, burns) in [(ours_h, burns_h), (ours_e, burns_e)] {
                if let (Some(ours), Some(burns)) = (ours, burns) {
                    assert!(ours.iter().any(|v| *v != 0.0));
                    assert!(relative_gap(&ours, &burns) < 1e-5, "tracking h {track_h}, E {track_e}");
                }
            }
        }
    }
}
