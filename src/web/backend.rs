//! Picks what runs the models in this browser: WebGPU through burn's wgpu backend when the
//! browser has a working hardware adapter, otherwise burn's Flex CPU backend, with the reason.
//! A software adapter (SwiftShader, llvmpipe) takes minutes where the CPU path takes seconds,
//! so it is used only when forced (`?gpu=force` in the page's address).

use burn::tensor::{Device, Tensor};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::engine::protocol::BackendInfo;

/// Initialises the device once: WebGPU if it works here (a software adapter only when
/// `force_software`), else the CPU.
pub async fn init_device(force_software: bool) -> (Device, BackendInfo) {
    match webgpu(force_software).await {
        Ok(pair) => pair,
        Err(reason) => (Device::flex(), BackendInfo::Cpu { reason }),
    }
}

async fn webgpu(force_software: bool) -> Result<(Device, BackendInfo), String> {
    let info = probe_adapter().await?;
    if info.is_software() && !force_software {
        let label = info.label();
        let name = label.trim_start_matches("WebGPU").trim().trim_start_matches('(').trim_end_matches(')');
        return Err(format!("the WebGPU adapter {name} is software, slower than the CPU path; ?gpu=force in the address uses it"));
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("WebGPU initialisation failed: {e}"))?;
    // A first round trip proves the device computes and reads back before anything relies on it.
    let sum = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device)
        .sum()
        .into_data_async()
        .await
        .map_err(|e| format!("WebGPU readback failed: {e:?}"))?
        .try_to_vec::<f32>()
        .map_err(|e| format!("WebGPU readback failed: {e:?}"))?;
    if sum != [6.0] {
        return Err(format!("WebGPU computed 1 + 2 + 3 = {sum:?}"));
    }
    Ok((device, info))
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn string(target: &JsValue, key: &str) -> String {
    get(target, key).as_string().unwrap_or_default()
}

/// Asks `navigator.gpu` for an adapter and describes it (wgpu does not expose the
/// browser's vendor/architecture strings).
async fn probe_adapter() -> Result<BackendInfo, String> {
    let navigator = get(&js_sys::global(), "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("WebGPU is not available in this browser".into());
    }
    let request: Function = get(&gpu, "requestAdapter").dyn_into().map_err(|_| "navigator.gpu has no requestAdapter")?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?
        .dyn_into()
        .map_err(|_| "requestAdapter returned no promise")?;
    let adapter = JsFuture::from(promise).await.map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("no WebGPU adapter".into());
    }
    let info = get(&adapter, "info");
    let fallback = get(&info, "isFallbackAdapter").as_bool().or_else(|| get(&adapter, "isFallbackAdapter").as_bool());
    Ok(BackendInfo::Webgpu {
        vendor: string(&info, "vendor"),
        architecture: string(&info, "architecture"),
        description: string(&info, "description"),
        fallback: fallback.unwrap_or(false),
    })
}
