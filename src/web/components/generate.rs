use leptos::prelude::*;

use crate::core::sampling::SamplingParams;
use crate::engine::generate::{GenerateParams, MAX_CONTINUATIONS, MAX_NEW_TOKENS};
use crate::engine::protocol::Finish;
use crate::engine::learner::{MAX_SCORE, Rating};
use crate::page::view::{Generated, GeneratedItem, ModelState};

/// One labelled number input bound to `value`; `parse` turns the field's text into a value or
/// `None` (the field then keeps the last good value and is marked invalid).
fn number_field<T: Clone + Send + Sync + ToString + 'static>(
    id: &'static str,
    label: &'static str,
    value: RwSignal<T>,
    step: &'static str,
    parse: fn(&str) -> Option<T>,
) -> impl IntoView {
    let invalid = RwSignal::new(false);
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                data-testid=id
                type="number"
                step=step
                aria-invalid=move || invalid.get().to_string()
                prop:value=move || value.get().to_string()
                on:change=move |ev| match parse(&event_target_value(&ev)) {
                    Some(v) => {
                        invalid.set(false);
                        value.set(v);
                    }
                    None => invalid.set(true),
                }
            />
        </div>
    }
}

/// The sampling controls, each bound to `params` (the share link follows them).
fn sampling_fields(params: RwSignal<GenerateParams>) -> impl IntoView {
    let initial = params.get_untracked();
    let n = RwSignal::new(initial.n);
    let max_tokens = RwSignal::new(initial.max_tokens);
    let temperature = RwSignal::new(initial.sampling.temperature);
    let top_k = RwSignal::new(initial.sampling.top_k);
    let top_p = RwSignal::new(initial.sampling.top_p);
    let repetition_penalty = RwSignal::new(initial.sampling.repetition_penalty);
    let seed = RwSignal::new(initial.sampling.seed);
    Effect::new(move |_| {
        let sampling = SamplingParams {
            temperature: temperature.get(),
            top_k: top_k.get(),
            top_p: top_p.get(),
            repetition_penalty: repetition_penalty.get(),
            seed: seed.get(),
        };
        let next = GenerateParams { n: n.get(), max_tokens: max_tokens.get(), sampling, ..initial.clone() };
        if params.with_untracked(|p| *p != next) {
            params.set(next);
        }
    });
    view! {
        <div class="controls">
            {number_field("gen-n", "Continuations", n, "1", |s| s.parse().ok().filter(|v| (1..=MAX_CONTINUATIONS).contains(v)))}
            {number_field("gen-max", "Max tokens", max_tokens, "1", |s| s.parse().ok().filter(|v| (1..=MAX_NEW_TOKENS).contains(v)))}
            {number_field("gen-temperature", "Temperature (0 = greedy)", temperature, "0.05", |s| s.parse().ok().filter(|v: &f32| v.is_finite() && *v >= 0.0))}
            {number_field("gen-top-k", "Top-k (0 = off)", top_k, "1", |s| s.parse().ok())}
            {number_field("gen-top-p", "Top-p", top_p, "0.01", |s| s.parse().ok().filter(|v: &f32| *v > 0.0 && *v <= 1.0))}
            {number_field("gen-rep", "Repetition penalty", repetition_penalty, "0.05", |s| s.parse().ok().filter(|v: &f32| v.is_finite() && *v > 0.0))}
            {number_field("gen-seed", "Seed", seed, "1", |s| s.parse().ok())}
        </div>
    }
}

/// The LM's state in words.
fn lm_words(state: &ModelState) -> String {
    match state {
        ModelState::Idle => "SmolLM2-135M-Instruct loads on the first Generate (98 MB once, then cached).".to_string(),
        ModelState::Loading(download) => format!("Loading SmolLM2: {}…", download.summary()),
        ModelState::Ready { cached, millis, memory_bytes } => format!(
            "SmolLM2 ready ({}) in {:.1} s; worker memory {:.0} MB.",
            if *cached { "from the browser cache" } else { "downloaded and cached" },
            millis / 1000.0,
            memory_bytes / 1e6
        ),
        ModelState::Failed(message) => format!("SmolLM2 could not load: {message}"),
    }
}

/// The LM's state as the page's `data-state` attribute.
fn lm_kind(state: &ModelState) -> &'static str {
    match state {
        ModelState::Idle => "idle",
        ModelState::Loading(_) => "loading",
        ModelState::Ready { .. } => "ready",
        ModelState::Failed(_) => "failed",
    }
}

type OnRate = std::sync::Arc<dyn Fn(String, String, Option<u8>) + Send + Sync>;

/// The 1–5 rating of a finished continuation `text` of `asked` (`score`: its rating so far).
fn rating_select(index: usize, asked: String, text: String, score: Option<u8>, on_rate: OnRate) -> impl IntoView {
    let label = format!("Rate continuation {} (1 = worst, {MAX_SCORE} = best)", index + 1);
    view! {
        <select class="rate" data-testid="rate" aria-label=label
            on:change=move |ev| on_rate(asked.clone(), text.clone(), event_target_value(&ev).parse().ok())>
            <option value="" selected=score.is_none()>"rate…"</option>
            {(1..=MAX_SCORE).map(|v| view! { <option value=v.to_string() selected=score == Some(v)>{format!("{v} ★")}</option> }).collect_view()}
        </select>
    }
}

/// The continuations as they stream in, each finished one with its rating.
fn continuations(generated: Signal<Generated>, ratings: Signal<Vec<Rating>>, on_rate: OnRate) -> impl IntoView {
    move || {
        generated.with(|g| {
            let item = |(index, item): (usize, &GeneratedItem)| {
                let state = match item.finish {
                    None => "running",
                    Some(Finish::Stop) => "stop",
                    Some(Finish::Length) => "length",
                    Some(Finish::Cancelled) => "cancelled",
                };
                let rating = (item.finish.is_some() && !item.text.trim().is_empty()).then(|| {
                    let (asked, text) = (g.prompt.clone(), item.text.clone());
                    let score = ratings.with(|r| r.iter().find(|r| r.prompt == asked && r.text == text).map(|r| r.score));
                    rating_select(index, asked, text, score, on_rate.clone())
                });
                view! {
                    <li data-testid="continuation" data-finish=state>
                        <span class="cont-text">{item.text.clone()}</span>
                        " "
                        {rating}
                    </li>
                }
            };
            g.items.iter().enumerate().map(item).collect_view()
        })
    }
}

/// The LM panel: a prompt, sampling controls, Generate / Stop, and the continuations streaming
/// in with tokens/s. Finished continuations become the responses the other panels analyse.
#[component]
pub fn GeneratePanel(
    lm: Signal<ModelState>,
    generated: Signal<Generated>,
    /// The prompt and the parameters, shared with the share link.
    prompt: RwSignal<String>,
    params: RwSignal<GenerateParams>,
    ratings: Signal<Vec<Rating>>,
    /// The learner scored (or, with `None`, unscored) a finished continuation of `prompt`.
    on_rate: impl Fn(String, String, Option<u8>) + Send + Sync + 'static,
    on_generate: impl Fn(String, GenerateParams) + 'static,
    on_stop: impl Fn() + 'static,
    /// What follows the continuations (the Send my ratings control).
    children: Children,
) -> impl IntoView {
    let running = move || generated.with(|g| g.running);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        on_generate(prompt.get_untracked(), params.get_untracked());
    };
    let progress = move || match lm.get() {
        ModelState::Loading(download) => {
            Some(view! { <progress max=download.total().to_string() value=download.loaded().to_string() aria-label="SmolLM2 download"></progress> })
        }
        _ => None,
    };
    view! {
        <section class="panel wide" aria-labelledby="generate-heading">
            <h2 id="generate-heading">"Generate"</h2>
            <form on:submit=submit>
                <label for="prompt">"Writing prompt"</label>
                <textarea
                    id="prompt"
                    data-testid="prompt"
                    rows="2"
                    class="prompt"
                    prop:value=move || prompt.get()
                    on:input=move |ev| prompt.set(event_target_value(&ev))
                ></textarea>
                {sampling_fields(params)}
                <div class="buttons">
                    <button type="submit" data-testid="generate" prop:disabled=running>"Generate"</button>
                    <button type="button" data-testid="stop" prop:disabled=move || !running() on:click=move |_| on_stop()>
                        "Stop"
                    </button>
                </div>
            </form>
            <p class="hint" data-testid="lm-state" data-state=move || lm.with(lm_kind)>{move || lm.with(lm_words)}</p>
            {progress}
            <p class="hint" role="status" aria-live="polite" data-testid="gen-summary">{move || generated.with(|g| g.summary.clone())}</p>
            <ol class="continuations" aria-label="Continuations">{continuations(generated, ratings, std::sync::Arc::new(on_rate))}</ol>
            {children()}
        </section>
    }
}
