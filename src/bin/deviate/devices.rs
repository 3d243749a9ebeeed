//! `--device`: what the CLI's models run on. Flex is burn's CPU backend (the page's CPU path);
//! wgpu is burn's GPU backend natively (Vulkan, Metal or DX12; Mesa's lavapipe on a machine
//! without a GPU), the kernels the page runs on WebGPU.

use anyhow::{Result, anyhow};
use burn::tensor::Device;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceKind {
    Flex,
    Wgpu,
}

impl DeviceKind {
    /// The device, once per process (the wgpu runtime cannot be set up twice).
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceKind::Flex => Ok(Device::flex()),
            DeviceKind::Wgpu => Device::wgpu_options().init().map_err(|error| {
                anyhow!("--device wgpu: no GPU adapter ({error}); install a Vulkan driver (e.g. Mesa's mesa-vulkan-drivers) or use --device flex")
            }),
        }
    }

    /// How benchmark reports name it.
    pub fn label(self) -> &'static str {
        match self {
            DeviceKind::Flex => "burn Flex CPU",
            DeviceKind::Wgpu => "burn wgpu",
        }
    }
}
