//! The page: responses in, deviation bars, weights and the similarity heatmap out. The app
//! only sends requests to the worker and renders its events.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use leptos::prelude::*;

use crate::core::records::responses_from_lines;
use crate::engine::protocol::{BackendInfo, Event, Request, SimilarityKind};

use super::bridge::Bridge;
use super::components::{BackendBadge, DeviationBars, Heatmap, ModelPanel, ResponsesInput};

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

/// Where the MiniLM model stands, as the model panel shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelState {
    /// Per file: (name, bytes loaded, total bytes, read from the cache).
    Loading(Vec<(String, u64, u64, bool)>),
    Ready { cached: bool, millis: f64 },
    Failed(String),
}

impl ModelState {
    fn progress(&mut self, file: String, loaded: u64, total: u64, cached: bool) {
        if let ModelState::Loading(files) = self {
            match files.iter_mut().find(|f| f.0 == file) {
                Some(entry) => *entry = (file, loaded, total, cached),
                None => files.push((file, loaded, total, cached)),
            }
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    let text = RwSignal::new(EXAMPLE.to_string());
    let kind = RwSignal::new(SimilarityKind::Semantic);
    let backend = RwSignal::new(None::<BackendInfo>);
    let model = RwSignal::new(ModelState::Loading(Vec::new()));
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
        Event::ModelProgress { file, loaded, total, cached } => {
            model.update(|m| m.progress(file, loaded, total, cached))
        }
        Event::ModelReady { cached, millis } => model.set(ModelState::Ready { cached, millis }),
        Event::ModelError { message } => model.set(ModelState::Failed(message)),
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
        Event::Error { message, .. } => status.set(format!("Error: {message}")),
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
    let clear_cache = move || {
        if let Some(bridge) = &bridge {
            bridge.send(&Request::ClearCache);
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
            <ResponsesInput text=text />
            <DeviationBars shown=shown.into() kind=kind effective=effective.into() />
            <Heatmap shown=shown.into() />
            <ModelPanel model=model.into() note=cache_note.into() on_clear=clear_cache />
        </main>
        <p class="status" role="status" aria-live="polite" data-testid="status">{move || status.get()}</p>
    }
}
