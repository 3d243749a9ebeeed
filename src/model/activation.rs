//! Activations as burn backend extensions: on the CPU (Flex) they run [`deviate_blocks`]'s
//! vectorised in-place kernels, split over the threads; a GPU runs burn's own ([`gelu`], [`silu`]).
//! - The erf GELU, gelu(x) = ½·x·(1 + erf(x/√2)): within 1e-6·(1 + |x|) of burn's scalar one,
//!   which it replaces (libm's erf was a tenth of MiniLM's time). Autodiff differentiates it with
//!   burn's `gelu_backward`.
//! - The logistic sigmoid σ(x) = 1/(1 + e^(−x)), for SmolLM2's SiLU x·σ(x): within a few ULP of
//!   burn's (libm's scalar expf was 5 % of a training step). Autodiff differentiates it from its
//!   output with burn's `sigmoid_backward`, σ' = σ·(1 − σ).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{DType, Tensor};

use crate::model::device::is_cpu;

/// gelu(x) and σ(x), element-wise.
#[backend_extension(Flex, Autodiff)]
pub trait Activation: Backend {
    /// burn's own GELU.
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_gelu::<Self>(x)
    }

    /// burn's own sigmoid.
    fn logistic(x: FloatTensor<Self>) -> FloatTensor<Self> {
        burns_sigmoid::<Self>(x)
    }
}

fn burns_gelu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::gelu(x)
}

fn burns_sigmoid<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::sigmoid(x)
}

impl Activation for Flex {
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return burns_gelu::<Self>(x);
        }
        in_place(x, deviate_blocks::gelu_in_place)
    }

    fn logistic(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return burns_sigmoid::<Self>(x);
        }
        in_place(x, deviate_blocks::sigmoid_in_place)
    }
}

/// `f` over x's f32 values: in place where x owns its values (as burn's element-wise ops do), on
/// a copy otherwise.
fn in_place(x: FlexTensor, f: fn(&mut [f32])) -> FlexTensor {
    let mut x = if x.is_contiguous() && x.layout().start_offset() == 0 { x } else { x.to_contiguous() };
    let n = x.layout().num_elements();
    f(&mut x.storage_mut::<f32>()[..n]);
    x
}

/// An element-wise op's backward pass, ∂L/∂x = f(state, ∂L/∂y), with burn's derivative `f`
/// (`gelu_backward` from the input, `sigmoid_backward` from the output).
#[derive(Debug)]
struct Elementwise<B: Backend>(fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>);

impl<B: Backend> Backward<B, 1> for Elementwise<B> {
    /// The op's input or output, as `f` reads it.
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| (self.0)(state, g));
    }
}

impl<B: Activation, C: CheckpointStrategy> Activation for Autodiff<B, C> {
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match Elementwise::<B>(B::gelu_backward).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let y = B::exact_gelu(x.clone());
                prep.finish(x, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::exact_gelu(x.into_primitive())),
        }
    }

    fn logistic(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match Elementwise::<B>(B::sigmoid_backward).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::logistic(x.into_primitive());
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::logistic(x.into_primitive())),
        }
    }
}

/// gelu(x) on any device: the extension on the CPU (with or without autodiff), burn's own
/// GELU elsewhere (the extension is routed to Flex and autodiff only).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !is_cpu(&x.device()) {
        return burn::tensor::activation::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as Activation>::exact_gelu(x.into_dispatch()))
}

/// silu(x) = x·σ(x) on any device (burn's definition): σ from the extension on the CPU, burn's
/// own SiLU elsewhere.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !is_cpu(&x.device()) {
        return burn::tensor::activation::silu(x);
    }
    let sigma = Tensor::from_dispatch(<Dispatch as Activation>::logistic(x.clone().into_dispatch()));
    x * sigma
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    type Activation = fn(Tensor<2>) -> Tensor<2>;

    fn values(x: Tensor<2>) -> Vec<f32> {
        x.into_data().try_into_vec::<f32>().unwrap()
    }

    /// Each value within `tolerance(x)` of burn's, x the input it came from, and not all equal
    /// (the vectorised functions round differently somewhere).
    fn assert_close(ours: &[f32], burns: &[f32], x: &[f32], tolerance: fn(f32) -> f32, what: &str) {
        assert_eq!((ours.len(), burns.len()), (x.len(), x.len()));
        for ((a, b), x) in ours.iter().zip(burns).zip(x) {
            assert!((a - b).abs() <= tolerance(*x), "{what} at {x}: {a} vs burn's {b}");
        }
        assert_ne!(ours, burns, "{what}: every value equal to burn's");
    }

    /// 1e-6·(1 + |x|): the GELU's erf is within 6.6e-7 of libm's, σ within 4 ULP of 1/(1 + e^(−x)).
    fn linear(x: f32) -> f32 {
        1e-6 * (1.0 + x.abs())
    }

    /// ∂/∂x of Σ f(x)·u through autodiff, for an upstream u that is not all ones and not
    /// through f(x) (whose values differ between the two functions).
    fn gradient(f: Activation, x: &Tensor<2>) -> Vec<f32> {
        let autodiff = x.device().autodiff();
        let x = Tensor::<2>::from_data(x.to_data(), &autodiff).require_grad();
        let upstream = Tensor::<2>::from_data(x.to_data(), &autodiff);
        let grads = (f(x.clone()) * upstream).sum().backward();
        values(x.grad(&grads).unwrap())
    }

    /// Close to burn's own function on the CPU on a contiguous tensor and on a transposed view.
    fn assert_close_to_burns(ours: Activation, burns: Activation, x: &Tensor<2>, what: &str) {
        for x in [x.clone(), x.clone().transpose()] {
            assert_close(&values(ours(x.clone())), &values(burns(x.clone())), &values(x), linear, what);
        }
    }

    /// Close to burn's own GELU, and the same gradient bits through autodiff (both
    /// differentiate with burn's gelu_backward from the input).
    #[test]
    fn matches_burns_gelu_and_its_gradient() {
        let x = Tensor::<2>::random([96, 70], Distribution::Normal(0.0, 3.0), &Device::flex());
        assert_close_to_burns(super::gelu, burn::tensor::activation::gelu, &x, "gelu");
        let bits = |g: Vec<f32>| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(gradient(super::gelu, &x)), bits(gradient(burn::tensor::activation::gelu, &x)));
    }

    /// Close to burn's own SiLU, and through autodiff a gradient within the same rounding of
    /// burn's (σ's derivative is taken from its output, which differs by a few ULP).
    #[test]
    fn silu_matches_burns_and_its_gradient() {
        let x = Tensor::<2>::random([96, 70], Distribution::Normal(0.0, 4.0), &Device::flex());
        assert_close_to_burns(super::silu, burn::tensor::activation::silu, &x, "silu");
        let (ours, burns) = (gradient(super::silu, &x), gradient(burn::tensor::activation::silu, &x));
        assert!(burns.iter().any(|g| g.abs() > 1.0), "a gradient with some size");
        // With u = x upstream, a few ULP in σ move x·(σ + x·σ·(1 − σ)) by about |x|·(1 + |x|) ULP.
        assert_close(&ours, &burns, &values(x), |x| 1e-6 * (1.0 + x * x), "gradient");
    }
}
