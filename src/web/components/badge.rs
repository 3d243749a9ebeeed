use leptos::prelude::*;

use crate::engine::protocol::BackendInfo;

/// What runs the models: the WebGPU adapter, or "CPU (reason)".
#[component]
pub fn BackendBadge(backend: Signal<Option<BackendInfo>>) -> impl IntoView {
    let kind = move || match backend.get() {
        Some(BackendInfo::Webgpu { .. }) => "webgpu",
        Some(BackendInfo::Cpu { .. }) => "cpu",
        None => "pending",
    };
    let label = move || backend.get().map_or_else(|| "Starting…".to_string(), |b| b.label());
    view! {
        <p class="badge" data-testid="backend" data-backend=kind>
            <span class="visually-hidden">"Backend: "</span>
            {label}
        </p>
    }
}
