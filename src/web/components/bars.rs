use leptos::prelude::*;

use crate::web::app::Shown;

/// Each response's raw deviation as a bar, with the paper's weight beside it.
#[component]
pub fn DeviationBars(shown: Signal<Option<Shown>>) -> impl IntoView {
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
                    let width = format!("{:.1}%", 100.0 * deviation / max);
                    let label = format!("Response {}: deviation {deviation:.3}, weight {weight:.3}", i + 1);
                    view! {
                        <li class="bar-row" data-testid="bar" data-deviation=deviation.to_string()
                            data-weight=weight.to_string() aria-label=label>
                            <span class="bar-text" title=text.clone()>{format!("{}. {text}", i + 1)}</span>
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
            <h2 id="deviation-heading">"Deviation (token Jaccard)"</h2>
            <p class="hint">
                "Deviation = mean distance to the other responses. Weight = the paper's per-prompt weight: the least deviating response gets 0, the weights sum to N."
            </p>
            <ol class="bars" data-testid="bars">{rows}</ol>
        </section>
    }
}
