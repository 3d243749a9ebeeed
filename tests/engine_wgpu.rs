//! The same Jaccard kernel path on burn's wgpu backend natively (a real GPU, or Mesa's
//! lavapipe Vulkan on a CPU-only machine): the kernels the browser runs on WebGPU.
//! One device per process, so this file holds a single test.

mod common;

use burn::tensor::Device;
use deviate::core::jaccard::jaccard_distances as core_jaccard;
use deviate::engine::similarity::jaccard_distances;

#[test]
fn wgpu_jaccard_equals_core_jaccard_exactly() {
    let device = match Device::wgpu_options().init() {
        Ok(device) => device,
        // Opting out is explicit; CI installs mesa-vulkan-drivers so this runs there.
        Err(error) if std::env::var_os("DEVIATE_SKIP_WGPU").is_some() => {
            eprintln!("skipping: no wgpu adapter ({error})");
            return;
        }
        Err(error) => panic!("no wgpu adapter ({error}); install mesa-vulkan-drivers or set DEVIATE_SKIP_WGPU=1"),
    };
    let texts = common::tricky_texts();
    let engine = pollster::block_on(jaccard_distances(&device, &texts)).unwrap();
    assert_eq!(engine, core_jaccard(&texts));
}
