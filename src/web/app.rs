//! The page: responses in, deviation bars, weights and the similarity heatmap out. The app
//! only sends requests to the worker and renders its events.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use leptos::prelude::*;

use crate::core::records::responses_from_lines;
use crate::engine::protocol::{BackendInfo, Event, Finish, ModelName, Request, SimilarityKind};

use super::bridge::Bridge;
use super::components::{
    BackendBadge, DeviationBars, GeneratePanel, Heatmap, LaneView, ModelPanel, ResponsesInput, TrainAction, TrainView,
    TrainingPanel,
};

/// The prefilled example: one writing prompt's continuations, most of them retelling the same
/// idea and one going somewhere else, which is the paper's point.
pub const EXAMPLE: &str = "\
The lighthouse keeper climbed the stairs at dusk and lit the lamp for the ships at sea.
At dusk the old keeper climbed the lighthouse stairs to light the lamp for passing ships.
Every evening the keeper lit the great lamp so the ships would find the harbour.
The lamp had been dark for a century; tonight it lit itself, and the keeper's ghost wept with relief.
A gull stole the keeper's sandwich, and the whole coast heard about it by morning.";

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

#[component]
pub fn App() -> impl IntoView {
    let text = RwSignal::new(EXAMPLE.to_string());
    let kind = RwSignal::new(SimilarityKind::Semantic);
    let backend = RwSignal::new(None::<BackendInfo>);
    let model = RwSignal::new(ModelState::Loading(Vec::new()));
    let lm = RwSignal::new(ModelState::Idle);
    let generated = RwSignal::new(Generated::default());
    let training = RwSignal::new(TrainView::default());
    let cache_note = RwSignal::new(None::<String>);
    let shown = RwSignal::new(None::<Shown>);
    let status = RwSignal::new("Starting the worker…".to_string());
    let sent: Rc<RefCell<BTreeMap<u64, Vec<String>>>> = Rc::default();

    let sent_for_events = sent.clone();
    let bridge = Bridge::spawn(move |event| match event {
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
        Event::TrainReady { id, methods, pairs } => training.update(|t| {
            if t.id == Some(id) {
                t.lanes = methods.into_iter().zip(pairs).map(|(method, pairs)| LaneView::new(method, pairs)).collect();
                t.status = "Lanes ready.".into();
            }
        }),
        Event::TrainEvaluating { id, lane, done, total } => training.update(|t| {
            if t.id == Some(id) {
                let name = lane.and_then(|i| t.lanes.get(i)).map_or("the base model".to_string(), |l| l.method.name().to_uppercase());
                t.status = format!("Scoring {name} for diversity and quality: prompt {} of {total}…", done + 1);
                t.progress = Some((done, total));
            }
        }),
        Event::TrainEval { id, lane, point, millis } => training.update(|t| {
            if t.id == Some(id) {
                t.progress = None;
                match lane {
                    // The base model is every lane's step 0.
                    None => t.lanes.iter_mut().for_each(|l| l.evals.push(point.clone())),
                    Some(i) => {
                        if let Some(l) = t.lanes.get_mut(i) {
                            l.evals.push(point);
                            l.eval_millis = millis;
                        }
                    }
                }
            }
        }),
        Event::TrainStep { id, lane, metrics, batch, millis } => training.update(|t| {
            if t.id == Some(id)
                && let Some(l) = t.lanes.get_mut(lane)
            {
                t.status = format!("{} step {}: loss {:.4}", l.method.name().to_uppercase(), metrics.step, metrics.loss);
                l.rows.push(metrics);
                l.batch = batch;
                l.rejected = None;
                l.millis = millis;
            }
        }),
        Event::TrainRejected { id, lane, reason } => training.update(|t| {
            if t.id == Some(id)
                && let Some(l) = t.lanes.get_mut(lane)
            {
                l.rejected = Some(reason);
            }
        }),
        Event::TrainIdle { id, steps, paused, memory_bytes } => training.update(|t| {
            if t.id == Some(id) {
                t.busy = false;
                t.progress = None;
                let how = match (steps, paused) {
                    (0, false) => "Ready: press Step or Run".to_string(),
                    (_, true) => format!("Paused after {steps} steps per lane"),
                    _ => format!("{steps} steps per lane done"),
                };
                t.status = format!("{how}; worker memory {:.0} MB.", memory_bytes / 1e6);
            }
        }),
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
            let mut for_generation = false;
            generated.update(|g| {
                if id.is_some() && g.id == id {
                    for_generation = true;
                    g.running = false;
                    g.summary = format!("Error: {message}");
                }
            });
            training.update(|t| {
                if id.is_some() && t.id == id {
                    for_generation = true;
                    t.busy = false;
                    t.progress = None;
                    t.status = format!("Error: {message}");
                }
            });
            if !for_generation {
                status.set(format!("Error: {message}"));
            }
        }
        Event::Embeddings { .. } => {} // the page does not ask for raw embeddings
    });
    let bridge = match bridge {
        Ok(bridge) => Some(bridge),
        Err(message) => {
            status.set(message);
            None
        }
    };

    let model_ready = Memo::new(move |_| matches!(model.get(), ModelState::Ready { .. }));
    // The kind actually computed: the chosen one, or Jaccard while the model is not loaded.
    let effective = Memo::new(move |_| {
        let chosen = kind.get();
        if chosen.needs_embedder() && !model_ready.get() { SimilarityKind::Jaccard } else { chosen }
    });
    let analysis_bridge = bridge.clone();
    Effect::new(move |_| {
        let texts = responses_from_lines(&text.get());
        let similarity = effective.get();
        if texts.len() < 2 {
            status.set("Enter at least two responses, one per line.".into());
            return;
        }
        if let Some(bridge) = &analysis_bridge {
            let kept = texts.clone();
            let id = bridge.request(|id| Request::Analyze { id, similarity, texts });
            sent.borrow_mut().insert(id, kept);
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
        let n = params.n;
        let id = bridge.send_new(|id| Request::Generate { id, prompt, params });
        generated.set(Generated {
            id: Some(id),
            running: true,
            items: vec![GeneratedItem::default(); n],
            summary: "Starting…".into(),
        });
    };
    let train_bridge = bridge.clone();
    let train = move |action: TrainAction| {
        let Some(bridge) = &train_bridge else { return };
        match action {
            TrainAction::SetUp(setup) => {
                let id = bridge.send_new(|id| Request::TrainStart { id, setup });
                training.set(TrainView {
                    id: Some(id),
                    busy: true,
                    status: "Setting up: loading the models and embedding the toy set…".into(),
                    ..Default::default()
                });
            }
            TrainAction::Run(steps) => {
                if let Some(id) = training.with_untracked(|t| t.id) {
                    bridge.send(&Request::TrainRun { id, steps });
                    training.update(|t| {
                        t.busy = true;
                        t.status = format!("Running {steps} step(s)…");
                    });
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

    view! {
        <header class="top">
            <h1>"Deviate"</h1>
            <p class="tagline">
                "How far does each response stray from the others? Deviation-weighted preference optimisation, in your browser."
            </p>
            <BackendBadge backend=backend.into() />
        </header>
        <main class="panels">
            <GeneratePanel lm=lm.into() generated=generated.into() on_generate=generate on_stop=stop />
            <ResponsesInput text=text />
            <DeviationBars shown=shown.into() kind=kind effective=effective.into() />
            <Heatmap shown=shown.into() />
            <ModelPanel model=model.into() note=cache_note.into() on_clear=clear_cache />
            <TrainingPanel view_state=training.into() on_action=train />
        </main>
        <p class="status" role="status" aria-live="polite" data-testid="status">{move || status.get()}</p>
    }
}
