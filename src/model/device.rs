//! Which kind of device a tensor lives on, where a model picks a CPU-only path.

use burn::tensor::Device;

/// Whether `device` is the CPU (Flex), with or without autodiff: the device that the CPU-only
/// paths (compact weights, the GELU extension, fused attention outside training, one pair per
/// pass) are written for.
pub fn is_cpu(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}
