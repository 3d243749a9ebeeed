//! The erf GELU, gelu(x) = ½·x·(1 + erf(x/√2)), as a burn backend extension: on the CPU
//! (Flex) it runs [`deviate_blocks::gelu_in_place`], vectorised and split over the threads
//! (within 1e-6·(1 + |x|) of burn's scalar one, which it replaces: libm's erf was a tenth of
//! MiniLM's time); a GPU runs burn's own `gelu` ([`gelu`]). Autodiff differentiates it with
//! burn's `gelu_backward`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{DType, Tensor};

use crate::model::device::is_cpu;

/// gelu(x), element-wise.
#[backend_extension(Flex, Autodiff)]
pub trait Gelu: Backend {
    /// burn's own GELU.
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_gelu::<Self>(x)
    }
}

fn burns_gelu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::gelu(x)
}

impl Gelu for Flex {
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return burns_gelu::<Self>(x);
        }
        // In place where x owns its values (as burn's element-wise ops do); a copy otherwise.
        let mut x = if x.is_contiguous() && x.layout().start_offset() == 0 { x } else { x.to_contiguous() };
        let n = x.layout().num_elements();
        deviate_blocks::gelu_in_place(&mut x.storage_mut::<f32>()[..n]);
        x
    }
}

#[derive(Debug)]
struct GeluBackward;

impl<B: Backend> Backward<B, 1> for GeluBackward {
    /// The input x.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| B::gelu_backward(x, g));
    }
}

impl<B: Gelu, C: CheckpointStrategy> Gelu for Autodiff<B, C> {
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match GeluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let y = B::exact_gelu(x.clone());
                prep.finish(x, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::exact_gelu(x.into_primitive())),
        }
    }
}

/// gelu(x) on any device: the extension on the CPU (with or without autodiff), burn's own
/// GELU elsewhere (the extension is routed to Flex and autodiff only).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !is_cpu(&x.device()) {
        return burn::tensor::activation::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as Gelu>::exact_gelu(x.into_dispatch()))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    fn values(x: Tensor<2>) -> Vec<f32> {
        x.into_data().try_into_vec::<f32>().unwrap()
    }

    fn bits(x: Tensor<2>) -> Vec<u32> {
        values(x).iter().map(|v| v.to_bits()).collect()
    }

    /// Within 1e-6·(1 + |x|) of `x`'s GELU by burn (libm's scalar erf), not equal everywhere.
    fn assert_close_to_burns(x: Tensor<2>) {
        let ours = values(super::gelu(x.clone()));
        let burns = values(burn::tensor::activation::gelu(x.clone()));
        for ((a, b), x) in ours.iter().zip(&burns).zip(values(x)) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + x.abs()), "gelu({x}): {a} vs burn's {b}");
        }
        assert_ne!(ours, burns, "the vectorised erf is an approximation, so some values differ");
    }

    /// Close to burn's own GELU on the CPU, on a contiguous tensor and on a transposed view,
    /// and the same gradient through autodiff (both differentiate with burn's gelu_backward).
    #[test]
    fn matches_burns_gelu_and_its_gradient() {
        let device = Device::flex();
        let x = Tensor::<2>::random([96, 70], Distribution::Normal(0.0, 3.0), &device);
        assert_close_to_burns(x.clone());
        assert_close_to_burns(x.clone().transpose());

        let autodiff = device.autodiff();
        let gradient = |ours: bool| {
            let x = Tensor::<2>::from_data(x.to_data(), &autodiff).require_grad();
            let y = if ours { super::gelu(x.clone()) } else { burn::tensor::activation::gelu(x.clone()) };
            // An upstream gradient that is not all ones, and not through y (whose values differ).
            let upstream = Tensor::<2>::from_data(x.to_data(), &autodiff);
            let grads = (y * upstream).sum().backward();
            bits(x.grad(&grads).unwrap())
        };
        assert_eq!(gradient(true), gradient(false));
    }
}
