use leptos::prelude::*;

use crate::core::similarity::SimilarityKind;
use crate::page::view::Shown;

fn describe(kind: SimilarityKind) -> &'static str {
    match kind {
        SimilarityKind::Semantic => "Semantic (MiniLM cosine)",
        SimilarityKind::Jaccard => "Token Jaccard",
        SimilarityKind::Style => "Style profile",
        SimilarityKind::Both => "Semantic + style (paper's combination)",
    }
}

/// Each response's raw deviation as a bar, with the paper's weight beside it, and the
/// choice of similarity.
#[component]
pub fn DeviationBars(
    shown: Signal<Option<Shown>>,
    kind: RwSignal<SimilarityKind>,
    effective: Signal<SimilarityKind>,
) -> impl IntoView {
    let rows = move || {
        shown.get().map(|shown| {
            let max = shown.deviation.iter().copied().fold(0.0, f64::max).max(f64::MIN_POSITIVE);
            shown
                .texts
                .into_iter()
                .zip(shown.deviation)
                .zip(shown.weight)
                .enumerate()
                .map(|(i, ((text, deviation), weight))| {
                    let truncated = shown.truncated.contains(&i);
                    let width = format!("{:.1}%", 100.0 * deviation / max);
                    let label = format!("Response {}: deviation {deviation:.3}, weight {weight:.3}", i + 1);
                    view! {
                        <li class="bar-row" data-testid="bar" data-deviation=deviation.to_string()
                            data-weight=weight.to_string() aria-label=label>
                            <span class="bar-text" title=text.clone()>
                                {format!("{}. {text}", i + 1)}
                                {truncated.then(|| view! { <span class="tag" data-testid="truncated">" truncated"</span> })}
                            </span>
                            <span class="bar-track" aria-hidden="true">
                                <span class="bar-fill" style:width=width></span>
                            </span>
                            <span class="bar-num">{format!("{deviation:.3}")}</span>
                            <span class="bar-num weight">{format!("w {weight:.2}")}</span>
                        </li>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="panel" aria-labelledby="deviation-heading">
            <h2 id="deviation-heading">"Deviation"</h2>
            <label for="similarity">"Similarity"</label>
            <select
                id="similarity"
                data-testid="similarity"
                prop:value=move || kind.get().name()
                on:change=move |ev| {
                    if let Ok(chosen) = event_target_value(&ev).parse() {
                        kind.set(chosen);
                    }
                }
            >
                {SimilarityKind::ALL
                    .into_iter()
                    .map(|k| view! { <option value=k.name()>{describe(k)}</option> })
                    .collect_view()}
            </select>
            <p class="hint" data-testid="effective-similarity" data-kind=move || effective.get().name()>
                {move || {
                    let (chosen, used) = (kind.get(), effective.get());
                    if chosen == used {
                        format!("Showing: {}.", describe(used))
                    } else {
                        format!("Showing: {} until the MiniLM model loads.", describe(used))
                    }
                }}
            </p>
            <p class="hint">
                "Deviation = mean distance to the other responses. Weight = the paper's per-prompt weight: the least deviating response gets 0, the weights sum to N."
            </p>
            <ol class="bars" data-testid="bars" data-kind=move || shown.get().map(|s| s.similarity_kind.name())>
                {rows}
            </ol>
        </section>
    }
}
