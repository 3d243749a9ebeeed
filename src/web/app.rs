//! The page: responses in, deviation bars, weights and the similarity heatmap out. The app
//! only sends requests to the worker and renders its events.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use leptos::prelude::*;

use crate::core::records::responses_from_lines;
use crate::engine::learner::{LearnerData, MAX_IMPORT_BYTES, RunSummary, ratings_to_set};
use crate::engine::link::{Experiment, MAX_RESPONSES, Section};
use crate::engine::protocol::{BackendInfo, Event, Finish, ModelName, Request, SimilarityKind};

use super::bridge::{Bridge, Restart};
use super::components::{
    BackendBadge, DeviationBars, GeneratePanel, Heatmap, ModelPanel, ResponsesInput, SharePanel, TrainAction, TrainingPanel,
};
use crate::page::training::{Followup, TrainView};
use super::state;

/// One analysis as the page shows it: the texts it was computed for, and the worker's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Shown {
    pub similarity_kind: SimilarityKind,
    pub texts: Vec<String>,
    pub similarity: Vec<Vec<f64>>,
    pub deviation: Vec<f64>,
    pub weight: Vec<f64>,
    pub truncated: Vec<usize>,
    pub millis: f64,
}

/// Where a model stands, as its panel shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelState {
    /// Not asked for yet (the LM loads on the first generation).
    Idle,
    /// Per file: (name, bytes loaded, total bytes, read from the cache).
    Loading(Vec<(String, u64, u64, bool)>),
    Ready { cached: bool, millis: f64, memory_bytes: f64 },
    Failed(String),
}

impl ModelState {
    fn progress(&mut self, file: String, loaded: u64, total: u64, cached: bool) {
        if !matches!(self, ModelState::Loading(_)) {
            *self = ModelState::Loading(Vec::new());
        }
        if let ModelState::Loading(files) = self {
            match files.iter_mut().find(|f| f.0 == file) {
                Some(entry) => *entry = (file, loaded, total, cached),
                None => files.push((file, loaded, total, cached)),
            }
        }
    }
}

/// One continuation as it streams in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeneratedItem {
    pub text: String,
    pub finish: Option<Finish>,
}

/// The generation the page shows: its id, continuations, and a one-line summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generated {
    pub id: Option<u64>,
    /// The prompt the continuations answer.
    pub prompt: String,
    pub running: bool,
    pub items: Vec<GeneratedItem>,
    pub summary: String,
}

impl Generated {
    /// The finished continuations, one per line (their own line breaks become spaces), in order.
    fn finished_lines(&self) -> String {
        let lines: Vec<String> = self
            .items
            .iter()
            .filter(|item| item.finish.is_some() && !item.text.trim().is_empty())
            .map(|item| item.text.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        lines.join("\n")
    }
}

/// What the status line says about a replaced worker.
fn restart_words(restart: &Restart, had_lanes: bool) -> String {
    if restart.given_up {
        return format!("The worker stopped ({}) and failed again after restarts: reload the page.", restart.reason);
    }
    let mut words = format!("The worker stopped ({}); a new one started and reloads the models from the cache.", restart.reason);
    if restart.cpu_fallback {
        words.push_str(" It runs on the CPU from now on.");
    }
    if had_lanes {
        words.push_str(" The training lanes were lost: set them up again.");
    }
    words
}

#[component]
pub fn App() -> impl IntoView {
    let boot = state::boot();
    let initial = boot.experiment.clone();
    let text = RwSignal::new(initial.responses.clone());
    let kind = RwSignal::new(initial.similarity);
    let prompt = RwSignal::new(initial.prompt.clone());
    let gen_params = RwSignal::new(initial.generate.clone());
    let setup = RwSignal::new(initial.train.clone());
    let run_steps = RwSignal::new(initial.run_steps);
    let learner = RwSignal::new(boot.learner);
    let link_error = RwSignal::new(boot.link_error);
    let storage_error = RwSignal::new(boot.storage_error);
    let (hide, panel) = (initial.hide.clone(), initial.panel);
    let (opened_for_lesson, lesson) = (initial.lesson, RwSignal::new(initial.lesson));
    // The learner's ratings as training data; a link's own data until there are some.
    let link_data = initial.train.data.clone();
    let custom = Memo::new(move |_| learner.with(|l| ratings_to_set(&l.ratings)).or_else(|| link_data.clone()));
    let experiment = Memo::new(move |_| Experiment {
        prompt: prompt.get(),
        generate: gen_params.get(),
        responses: text.get(),
        similarity: kind.get(),
        train: setup.get(),
        run_steps: run_steps.get(),
        panel,
        hide: hide.clone(),
        lesson: lesson.get(),
    });
    let saver = Rc::new(RefCell::new(boot.saver));
    // The address follows the state, and the learner's data is saved, on every change. An
    // experiment that its checks refuse is neither put in the address nor saved (a later visit
    // would refuse it); errors stay up until the learner dismisses them.
    let effect_saver = saver.clone();
    Effect::new(move |_| {
        let e = experiment.get();
        if e.check().is_ok()
            && let Err(message) = state::set_address(&e.encode())
        {
            storage_error.set(Some(message));
        }
        let data = learner.with(|l| LearnerData { experiment: e, ..l.clone() });
        if let Err(message) = effect_saver.borrow_mut().save(&mut state::Local, &data) {
            storage_error.set(Some(message));
        }
    });
    let backend = RwSignal::new(None::<BackendInfo>);
    let model = RwSignal::new(ModelState::Loading(Vec::new()));
    let lm = RwSignal::new(ModelState::Idle);
    let generated = RwSignal::new(Generated::default());
    let training = RwSignal::new(TrainView::default());
    let cache_note = RwSignal::new(None::<String>);
    let shown = RwSignal::new(None::<Shown>);
    let status = RwSignal::new("Starting the worker…".to_string());
    let worker_notice = RwSignal::new(None::<String>);
    let sent: Rc<RefCell<BTreeMap<u64, Vec<String>>>> = Rc::default();

    let sent_for_events = sent.clone();
    // Steps the one-click lesson asks for once it is set up: (session, steps).
    let lesson_run = RwSignal::new(None::<(u64, usize)>);
    let record = move |steps: usize| {
        let lanes = training.with_untracked(TrainView::summaries);
        let (seed, data) = setup.with_untracked(|s| (s.train.seed, if s.data.is_some() { "ratings" } else { "toy" }));
        let run = RunSummary { ended: state::now_iso(), steps, seed, data: data.into(), lanes };
        learner.update(|l| l.record(run));
    };
    let on_event = move |event: Event| match event {
        Event::Ready { backend: info } => {
            status.set(format!("Worker ready on {}", info.label()));
            backend.set(Some(info));
        }
        Event::ModelProgress { model: name, file, loaded, total, cached } => {
            let target = if name == ModelName::Lm { lm } else { model };
            target.update(|m| m.progress(file, loaded, total, cached))
        }
        Event::ModelReady { model: name, cached, millis, memory_bytes } => {
            let target = if name == ModelName::Lm { lm } else { model };
            target.set(ModelState::Ready { cached, millis, memory_bytes })
        }
        Event::ModelError { model: name, message } => {
            let target = if name == ModelName::Lm { lm } else { model };
            target.set(ModelState::Failed(message))
        }
        Event::GenerationStarted { id, prompt_tokens } => generated.update(|g| {
            if g.id == Some(id) {
                g.summary = format!("Prompt read ({prompt_tokens} tokens); sampling…");
            }
        }),
        Event::Token { id, index, delta } => generated.update(|g| {
            if g.id == Some(id)
                && let Some(item) = g.items.get_mut(index)
            {
                item.text.push_str(&delta);
            }
        }),
        Event::ContinuationDone { id, index, continuation } => {
            let mut lines = None;
            generated.update(|g| {
                if g.id == Some(id)
                    && let Some(item) = g.items.get_mut(index)
                {
                    *item = GeneratedItem { text: continuation.text, finish: Some(continuation.finish) };
                    lines = Some(g.finished_lines());
                }
            });
            // Finished continuations become the responses: the panels analyse them live.
            if let Some(lines) = lines.filter(|l| l.lines().count() >= 2) {
                text.set(lines);
            }
        }
        Event::GenerationDone { id, tokens, millis, stopped } => generated.update(|g| {
            if g.id == Some(id) {
                g.running = false;
                let rate = tokens as f64 / (millis / 1000.0).max(1e-9);
                let how = if stopped { "Stopped" } else { "Done" };
                g.summary = format!("{how}: {tokens} tokens in {:.1} s ({rate:.1} tokens/s).", millis / 1000.0);
            }
        }),
        Event::TrainReady { .. }
        | Event::TrainEvaluating { .. }
        | Event::TrainEval { .. }
        | Event::TrainProbing { .. }
        | Event::TrainProbe { .. }
        | Event::TrainStep { .. }
        | Event::TrainRejected { .. }
        | Event::TrainIdle { .. } => {} // the training view's reducer, above
        Event::CacheCleared => {
            cache_note.set(Some("Cache cleared: the model downloads again on the next visit.".into()))
        }
        Event::Analysis { id, similarity: similarity_kind, distances, deviation, weight, truncated, millis } => {
            let mut sent = sent_for_events.borrow_mut();
            let Some(texts) = sent.remove(&id) else { return };
            sent.retain(|&other, _| other > id);
            let n = distances.len();
            let similarity = (0..n).map(|i| (0..n).map(|j| 1.0 - distances.get(i, j)).collect()).collect();
            status.set(format!("{n} responses analysed ({similarity_kind}) in {millis:.1} ms"));
            shown.set(Some(Shown { similarity_kind, texts, similarity, deviation, weight, truncated, millis }));
        }
        Event::Error { id, message } => {
            let mut answered = training.with_untracked(|t| id.is_some() && t.id == id);
            generated.update(|g| {
                if id.is_some() && g.id == id {
                    answered = true;
                    g.running = false;
                    g.summary = format!("Error: {message}");
                }
            });
            if !answered {
                status.set(format!("Error: {message}"));
            }
        }
        // The page never asks for raw embeddings; the bridge keeps pings and crashes to itself.
        Event::Embeddings { .. } | Event::Pong | Event::Crashed { .. } => {}
    };
    // A lost worker was replaced: what it held is said plainly, and the models load again
    // (the embedder at once, the LM on the next generation, both from the cache).
    let on_restart = move |restart: Restart| {
        worker_notice.set(Some(restart_words(&restart, training.with_untracked(|t| t.id.is_some()))));
        if restart.given_up {
            return;
        }
        backend.set(None);
        model.set(ModelState::Loading(Vec::new()));
        lm.update(|m| {
            if !matches!(m, ModelState::Failed(_)) {
                *m = ModelState::Idle
            }
        });
        generated.update(|g| {
            if g.running {
                g.running = false;
                g.summary = "Interrupted: the worker stopped. Press Generate again.".into();
            }
        });
        training.update(|t| {
            if t.id.is_some() {
                *t = TrainView { status: "The lanes were lost with the worker: press Set up to start them again from scratch.".into(), ..TrainView::default() };
            }
        });
    };
    let bridge = Bridge::spawn(
        move |event| {
            let mut followup = None;
            training.update(|t| followup = t.apply(&event, js_sys::Date::now()));
            match followup {
                Some(Followup::Record { steps }) => record(steps),
                Some(Followup::Run { steps }) => lesson_run.set(training.with_untracked(|t| t.id).map(|id| (id, steps))),
                None => {}
            }
            on_event(event)
        },
        on_restart,
    );

    let bridge = match bridge {
        Ok(bridge) => Some(bridge),
        Err(message) => {
            status.set(message);
            None
        }
    };

    // The watchdog allows a long silence while the worker does what the page asked for.
    let busy_bridge = bridge.clone();
    Effect::new(move |_| {
        let loading = |m: &ModelState| matches!(m, ModelState::Loading(_));
        let busy = generated.with(|g| g.running) || training.with(|t| t.busy) || model.with(loading) || lm.with(loading);
        if let Some(bridge) = &busy_bridge {
            bridge.set_busy(busy);
        }
    });
    let model_ready = Memo::new(move |_| matches!(model.get(), ModelState::Ready { .. }));
    // The kind actually computed: the chosen one, or Jaccard while the model is not loaded.
    let effective = Memo::new(move |_| {
        let chosen = kind.get();
        if chosen.needs_embedder() && !model_ready.get() { SimilarityKind::Jaccard } else { chosen }
    });
    let analysis_bridge = bridge.clone();
    let analysis_sent = sent.clone();
    Effect::new(move |_| {
        let texts = responses_from_lines(&text.get());
        let similarity = effective.get();
        let refused = if texts.len() < 2 {
            Some("Enter at least two responses, one per line.".to_string())
        } else if texts.len() > MAX_RESPONSES {
            Some(format!("{} responses: the page analyses at most {MAX_RESPONSES}; remove some.", texts.len()))
        } else {
            None
        };
        if let Some(message) = refused {
            // Answers still on their way are for texts no longer there.
            analysis_sent.borrow_mut().clear();
            status.set(message);
            return;
        }
        if let Some(bridge) = &analysis_bridge {
            let kept = texts.clone();
            let id = bridge.request(|id| Request::Analyze { id, similarity, texts });
            analysis_sent.borrow_mut().insert(id, kept);
        }
    });
    let cache_bridge = bridge.clone();
    let clear_cache = move || {
        if let Some(bridge) = &cache_bridge {
            bridge.send(&Request::ClearCache);
        }
    };
    let generate_bridge = bridge.clone();
    let generate = move |prompt: String, params: crate::engine::protocol::GenerateParams| {
        let Some(bridge) = &generate_bridge else { return };
        let (n, asked) = (params.n, prompt.clone());
        let id = bridge.send_new(|id| Request::Generate { id, prompt, params });
        generated.set(Generated {
            id: Some(id),
            prompt: asked,
            running: true,
            items: vec![GeneratedItem::default(); n],
            summary: "Starting…".into(),
        });
    };
    // The lesson's steps go out once its session is set up.
    let lesson_bridge = bridge.clone();
    Effect::new(move |_| {
        if let (Some((id, steps)), Some(bridge)) = (lesson_run.get(), &lesson_bridge) {
            bridge.send(&Request::TrainRun { id, steps });
            lesson_run.set(None);
        }
    });
    let train_bridge = bridge.clone();
    let train = move |action: TrainAction| {
        let Some(bridge) = &train_bridge else { return };
        match action {
            TrainAction::SetUp(setup) => {
                let id = bridge.send_new(|id| Request::TrainStart { id, setup });
                training.set(TrainView::setting_up(id, None));
            }
            TrainAction::Lesson(setup, steps) => {
                lesson.set(true);
                let id = bridge.send_new(|id| Request::TrainStart { id, setup });
                training.set(TrainView::setting_up(id, Some(steps)));
            }
            TrainAction::Run(steps) => {
                if let Some(id) = training.with_untracked(|t| t.id) {
                    bridge.send(&Request::TrainRun { id, steps });
                    training.update(|t| t.running(steps));
                }
            }
            TrainAction::Pause => {
                if let Some(id) = training.with_untracked(|t| t.id) {
                    bridge.send(&Request::TrainPause { id });
                    training.update(|t| t.status = "Pausing after the step in progress…".into());
                }
            }
        }
    };
    let stop = move || {
        if let (Some(bridge), Some(id)) = (&bridge, generated.with_untracked(|g| g.running.then_some(g.id).flatten())) {
            bridge.send(&Request::StopGeneration { id });
        }
    };

    let rate = move |asked: String, text: String, score: Option<u8>| {
        let mut result = Ok(());
        learner.update(|l| result = l.rate(&asked, &text, score));
        if let Err(message) = result {
            storage_error.set(Some(message));
        }
    };
    let export = move || {
        let data = learner.with_untracked(|l| LearnerData { experiment: experiment.get_untracked(), ..l.clone() });
        if let Err(message) = state::download("deviate-data.json", &data.to_json()) {
            storage_error.set(Some(format!("Export failed: {message}")));
        }
    };
    let import = move |file: web_sys::File| {
        let saver = saver.clone();
        if file.size() > MAX_IMPORT_BYTES as f64 {
            storage_error.set(Some(format!(
                "Import refused: {} is {:.1} MB; an export is at most {} MB.",
                file.name(),
                file.size() / 1e6,
                MAX_IMPORT_BYTES / (1024 * 1024)
            )));
            return;
        }
        leptos::task::spawn_local(async move {
            let read = gloo_file::futures::read_as_text(&gloo_file::File::from(file)).await;
            let parsed = read.map_err(|e| e.to_string()).and_then(|json| LearnerData::from_json(&json));
            match parsed {
                // The components read their fields once, so the page restarts on the imported state.
                Ok(data) => match saver.borrow_mut().save(&mut state::Local, &data) {
                    Ok(()) => {
                        if let Err(message) = state::set_address(&data.experiment.encode()).and_then(|()| state::reload()) {
                            storage_error.set(Some(format!("Imported, but {message}: reload the page.")));
                        }
                    }
                    Err(message) => storage_error.set(Some(message)),
                },
                Err(message) => storage_error.set(Some(format!("Import refused: {message}"))),
            }
        });
    };
    let clear = move || learner.update(|l| *l = LearnerData { experiment: l.experiment.clone(), ..Default::default() });
    let shown_section = move |section: Section| !initial.hide.contains(&section);
    // A link pasted into the address bar of the open page changes only the hash: start over on it.
    let _ = window_event_listener(leptos::ev::hashchange, move |_| {
        if state::hash_token() != Some(experiment.get_untracked().encode())
            && let Err(message) = state::reload()
        {
            link_error.set(Some(format!("A new link was pasted, but {message}: reload the page.")));
        }
    });
    if let Some(section) = panel {
        request_animation_frame(move || state::scroll_to(&format!("{}-heading", section.name())));
    }
    if opened_for_lesson {
        request_animation_frame(|| state::focus("lesson-run"));
    }

    view! {
        <header class="top">
            <h1>"Deviate"</h1>
            <p class="tagline">
                "How far does each response stray from the others? Deviation-weighted preference optimisation, in your browser."
            </p>
            <BackendBadge backend=backend.into() />
        </header>
        {move || link_error.get().map(|message| view! {
            <div class="notice error" role="alert" data-testid="link-error">
                <p>{message}</p>
                <button type="button" on:click=move |_| link_error.set(None)>"Dismiss"</button>
            </div>
        })}
        {move || worker_notice.get().map(|message| view! {
            <div class="notice error" role="alert" data-testid="worker-notice">
                <p>{message}</p>
                <button type="button" on:click=move |_| worker_notice.set(None)>"Dismiss"</button>
            </div>
        })}
        {move || storage_error.get().map(|message| view! {
            <div class="notice error" role="alert" data-testid="storage-error">
                <p>{message}</p>
                <button type="button" on:click=move |_| storage_error.set(None)>"Dismiss"</button>
            </div>
        })}
        <main class="panels">
            {shown_section(Section::Generate).then(|| view! {
                <GeneratePanel lm=lm.into() generated=generated.into() prompt=prompt params=gen_params
                    ratings=Signal::derive(move || learner.with(|l| l.ratings.clone())) on_rate=rate
                    on_generate=generate on_stop=stop />
            })}
            {shown_section(Section::Responses).then(|| view! { <ResponsesInput text=text /> })}
            {shown_section(Section::Deviation).then(|| view! { <DeviationBars shown=shown.into() kind=kind effective=effective.into() /> })}
            {shown_section(Section::Heatmap).then(|| view! { <Heatmap shown=shown.into() /> })}
            {shown_section(Section::Model).then(|| view! { <ModelPanel model=model.into() note=cache_note.into() on_clear=clear_cache /> })}
            {shown_section(Section::Training).then(|| view! {
                <TrainingPanel view_state=training.into() setup=setup run_steps=run_steps custom=custom.into()
                    lesson=opened_for_lesson on_action=train />
            })}
            {shown_section(Section::Share).then(|| view! {
                <SharePanel experiment=experiment.into() learner=learner.into() on_export=export on_import=import on_clear=clear
                    on_unrate=move |asked, text| rate(asked, text, None) />
            })}
        </main>
        <p class="status" role="status" aria-live="polite" data-testid="status">{move || status.get()}</p>
    }
}
