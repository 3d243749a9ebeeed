use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::engine::learner::{LearnerData, RunSummary};
use crate::engine::link::{Experiment, MAX_LINK_CHARS, Section};
use crate::web::state;

use super::checkbox::member_checkbox;

/// The learner's ratings, each with a remove button.
fn rating_list(learner: Signal<LearnerData>, on_unrate: std::sync::Arc<dyn Fn(String, String) + Send + Sync>) -> impl IntoView {
    move || {
        learner.with(|l| {
            l.ratings
                .iter()
                .map(|r| {
                    let (prompt, text, on_unrate) = (r.prompt.clone(), r.text.clone(), on_unrate.clone());
                    let label = format!("Remove the rating of \"{}\"", r.text.chars().take(40).collect::<String>());
                    view! {
                        <li data-testid="rating-row" data-score=r.score.to_string()>
                            <span class="rating-score">{format!("{} ★ ", r.score)}</span>
                            <span class="cont-text">{r.text.clone()}</span>
                            <span class="hint">{format!(" (for: {})", r.prompt)}</span>
                            " "
                            <button type="button" aria-label=label on:click=move |_| on_unrate(prompt.clone(), text.clone())>"remove"</button>
                        </li>
                    }
                })
                .collect_view()
        })
    }
}

/// One checkbox per section: hidden for whoever opens the link (not on this page).
fn hide_checkboxes(hide: RwSignal<Vec<Section>>) -> impl IntoView {
    let checkbox = move |section: Section| {
        member_checkbox(format!("hide-{}", section.name()), section.name().to_string(), hide, section, &Section::ALL)
    };
    Section::ALL.into_iter().map(checkbox).collect_view()
}

/// One run of the history as a table row: when, how many steps, on what, each lane's end.
fn history_row(run: &RunSummary) -> impl IntoView + use<> {
    let lane = |lane: &crate::engine::learner::LaneSummary| {
        let eval = lane.eval.as_ref().map(|e| format!(", diversity {:.3}", e.semantic_diversity)).unwrap_or_default();
        format!("{} loss {:.3}, margin {:.3}{eval}", lane.method.name().to_uppercase(), lane.loss, lane.margin)
    };
    let lanes = run.lanes.iter().map(lane).collect::<Vec<_>>().join("; ");
    view! {
        <tr data-testid="history-row">
            <td>{run.ended.get(..16).unwrap_or(&run.ended).replace('T', " ")}</td>
            <td>{run.steps}</td>
            <td>{run.data.clone()}</td>
            <td>{lanes}</td>
        </tr>
    }
}

/// The link (with the sections to hide), a copy button, and a message if it is too long.
fn link_controls(experiment: Signal<Experiment>) -> impl IntoView {
    let hide = RwSignal::new(experiment.with_untracked(|e| e.hide.clone()));
    let token = Memo::new(move |_| {
        let mut e = experiment.get();
        e.hide = hide.get();
        e.encode()
    });
    let link = Memo::new(move |_| state::address(&token.get()));
    // A link longer than a page will open (long rated texts travel inside it) is no link.
    let too_long = move || {
        let length = token.with(|t| t.len());
        (length > MAX_LINK_CHARS).then(|| view! {
            <p class="error" role="alert" data-testid="link-too-long">
                {format!("This experiment is too large for a link ({length} characters; at most {MAX_LINK_CHARS}): export it as JSON instead.")}
            </p>
        })
    };
    let copied = RwSignal::new(String::new());
    let copy = move |_| {
        let text = link.get_untracked();
        leptos::task::spawn_local(async move {
            copied.set(match state::copy(&text).await {
                Ok(()) => "Link copied.".into(),
                Err(e) => format!("Could not copy ({e}): select the link and copy it yourself."),
            })
        });
    };
    let select_all = |ev: leptos::ev::FocusEvent| {
        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
            input.select();
        }
    };
    view! {
        <label for="share-url">"Link to this experiment (the same link gives the same numbers on the same backend)"</label>
        <div class="share-row">
            <input id="share-url" data-testid="share-url" type="text" readonly prop:value=move || link.get() on:focus=select_all />
            <button type="button" data-testid="copy-link" on:click=copy>"Copy link"</button>
        </div>
        {too_long}
        <p class="hint" role="status" aria-live="polite" data-testid="copy-status">{move || copied.get()}</p>
        <fieldset class="methods">
            <legend>"Hide for whoever opens the link"</legend>
            {hide_checkboxes(hide)}
        </fieldset>
    }
}

/// Export, import (a file picker) and clear.
fn data_buttons(on_export: impl Fn() + 'static, on_import: impl Fn(web_sys::File) + 'static, on_clear: impl Fn() + 'static) -> impl IntoView {
    view! {
        <div class="buttons">
            <button type="button" data-testid="export" on:click=move |_| on_export()>"Export as JSON"</button>
            <label class="file" for="import">"Import JSON"</label>
            <input type="file" id="import" data-testid="import" accept="application/json,.json"
                on:change=move |ev| {
                    let input: web_sys::HtmlInputElement = event_target(&ev);
                    if let Some(file) = input.files().and_then(|f| f.get(0)) {
                        on_import(file);
                    }
                    input.set_value("");
                } />
            <button type="button" data-testid="clear-data" on:click=move |_| on_clear()>"Clear my data"</button>
        </div>
    }
}

/// Share and save: the experiment's link (with sections to hide from whoever opens it) and a
/// copy button; the learner's ratings and run history with export, import and clear.
#[component]
pub fn SharePanel(
    experiment: Signal<Experiment>,
    learner: Signal<LearnerData>,
    on_export: impl Fn() + 'static,
    on_import: impl Fn(web_sys::File) + 'static,
    on_clear: impl Fn() + 'static,
    /// Removes the rating of (prompt, text).
    on_unrate: impl Fn(String, String) + Send + Sync + 'static,
) -> impl IntoView {
    let summary = move || {
        learner.with(|l| format!("{} rated continuation(s) and {} training run(s), kept in this browser.", l.ratings.len(), l.history.len()))
    };
    let history = move || learner.with(|l| l.history.iter().rev().take(5).map(history_row).collect_view());
    view! {
        <section class="panel wide" id="share" aria-labelledby="share-heading">
            <h2 id="share-heading">"Share and save"</h2>
            {link_controls(experiment)}
            <h3>"Your data"</h3>
            <p class="hint" data-testid="learner-summary">{summary}</p>
            {data_buttons(on_export, on_import, on_clear)}
            <details>
                <summary>"Your ratings"</summary>
                <ul class="ratings">{rating_list(learner, std::sync::Arc::new(on_unrate))}</ul>
            </details>
            <table class="metrics">
                <caption class="hint">"Recent training runs"</caption>
                <thead><tr><th scope="col">"ended"</th><th scope="col">"steps"</th><th scope="col">"data"</th><th scope="col">"lanes"</th></tr></thead>
                <tbody>{history}</tbody>
            </table>
        </section>
    }
}
