use leptos::prelude::*;

use crate::page::view::ModelState;

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The MiniLM model: download progress per file, cached or not, load time, and a button
/// that clears the browser cache.
#[component]
pub fn ModelPanel(model: Signal<ModelState>, note: Signal<Option<String>>, on_clear: impl Fn() + 'static) -> impl IntoView {
    let body = move || match model.get() {
        ModelState::Loading(download) => {
            let rows = download
                .files
                .iter()
                .cloned()
                .map(|(file, loaded, total, cached)| {
                    let label = if cached {
                        format!("{file}: cached")
                    } else {
                        format!("{file}: {} / {}", megabytes(loaded), megabytes(total))
                    };
                    view! {
                        <li data-testid="model-file" data-cached=cached.to_string()>
                            <span>{label.clone()}</span>
                            <progress max=total.to_string() value=loaded.to_string() aria-label=label></progress>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <p data-testid="model-state" data-state="loading">"Loading all-MiniLM-L6-v2 (91 MB once, then cached): "{download.summary()}"…"</p>
                <ul class="files">{rows}</ul>
            }
            .into_any()
        }
        ModelState::Idle => view! { <p data-testid="model-state" data-state="idle">"Waiting for the worker…"</p> }.into_any(),
        ModelState::Ready { cached, millis, .. } => {
            let from = if cached { "from the browser cache" } else { "downloaded and cached" };
            view! {
                <p data-testid="model-state" data-state="ready" data-cached=cached.to_string()>
                    {format!("all-MiniLM-L6-v2 ready ({from}) in {:.1} s.", millis / 1000.0)}
                </p>
            }
            .into_any()
        }
        ModelState::Failed(message) => view! {
            <p data-testid="model-state" data-state="failed" class="error" role="alert">
                {format!("The semantic model could not load: {message}. Jaccard and style still work.")}
            </p>
        }
        .into_any(),
    };
    view! {
        <section class="panel" aria-labelledby="model-heading">
            <h2 id="model-heading">"Embedding model"</h2>
            {body}
            <button type="button" data-testid="clear-cache" on:click=move |_| on_clear()>"Clear cached model"</button>
            <p class="hint" role="status">{move || note.get()}</p>
        </section>
    }
}
