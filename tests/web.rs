//! In a real browser (wasm-bindgen-test, headless Chromium, in a dedicated worker like the
//! app's): the backend chosen by the worker computes the Jaccard matrix exactly as the pure
//! core does, on WebGPU and on the Flex CPU backend.
#![cfg(target_arch = "wasm32")]

mod common;

use burn::tensor::Device;
use deviate::core::jaccard::jaccard_distances as core_jaccard;
use deviate::engine::protocol::BackendInfo;
use deviate::engine::similarity::jaccard_distances;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
async fn worker_backend_and_cpu_compute_the_core_jaccard_matrix() {
    let texts = common::tricky_texts();
    let want = core_jaccard(&texts);

    // wgpu initialises once per process, so one test covers the chosen device.
    let (device, backend) = deviate::web::init_device().await;
    let expect_cpu = option_env!("DEVIATE_EXPECT_CPU").is_some();
    match (&backend, expect_cpu) {
        (BackendInfo::Webgpu { .. }, false) | (BackendInfo::Cpu { .. }, true) => {}
        _ => panic!("unexpected backend {backend:?} (DEVIATE_EXPECT_CPU set: {expect_cpu})"),
    }
    assert_eq!(jaccard_distances(&device, &texts).await.unwrap(), want, "on {}", backend.label());

    let cpu = Device::flex();
    assert_eq!(jaccard_distances(&cpu, &texts).await.unwrap(), want, "on Flex in wasm");
}
