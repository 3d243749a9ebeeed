use leptos::prelude::*;

use crate::page::view::Shown;

/// Above this many responses the N×N table would be too large to read (and slow to draw).
const MAX_RESPONSES: usize = 40;

/// Background of a similarity cell: white at 0 to deep blue at 1.
fn cell_rgb(similarity: f64) -> [u8; 3] {
    let t = similarity.clamp(0.0, 1.0);
    let mix = |from: f64, to: f64| (from + (to - from) * t).round() as u8;
    [mix(247.0, 8.0), mix(251.0, 48.0), mix(255.0, 107.0)]
}

fn cell_colour(similarity: f64) -> String {
    let [r, g, b] = cell_rgb(similarity);
    format!("rgb({r}, {g}, {b})")
}

/// Whether white text reads better than black on the cell (WCAG relative luminance: white
/// wins below about 0.18, where both reach a contrast of 4.5:1).
fn needs_white_text(similarity: f64) -> bool {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let [r, g, b] = cell_rgb(similarity);
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b) < 0.179
}

/// The pairwise similarity matrix as a table (readable by screen readers), shaded by value.
#[component]
pub fn Heatmap(shown: Signal<Option<Shown>>) -> impl IntoView {
    let table = move || {
        shown.get().map(|shown| {
            let n = shown.similarity.len();
            if n > MAX_RESPONSES {
                return view! {
                    <p class="hint" data-testid="heatmap-too-large">
                        {format!("The matrix is shown for up to {MAX_RESPONSES} responses; there are {n}.")}
                    </p>
                }
                .into_any();
            }
            let header = (1..=n).map(|j| view! { <th scope="col">{j}</th> }).collect_view();
            let body = shown
                .similarity
                .into_iter()
                .enumerate()
                .map(|(i, row)| {
                    let cells = row
                        .into_iter()
                        .map(|s| {
                            let dark = needs_white_text(s);
                            view! {
                                <td data-similarity=s.to_string() class:dark=dark
                                    style:background-color=cell_colour(s)>{format!("{s:.2}")}</td>
                            }
                        })
                        .collect_view();
                    view! { <tr><th scope="row">{i + 1}</th>{cells}</tr> }
                })
                .collect_view();
            view! {
                <table class="heatmap" data-testid="heatmap">
                    <caption class="visually-hidden">"Pairwise similarity of the responses"</caption>
                    <thead><tr><th></th>{header}</tr></thead>
                    <tbody>{body}</tbody>
                </table>
            }
            .into_any()
        })
    };
    view! {
        <section class="panel" aria-labelledby="heatmap-heading">
            <h2 id="heatmap-heading">"Similarity matrix"</h2>
            {table}
        </section>
    }
}
