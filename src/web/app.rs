//! The page: responses in, deviation bars, weights and the similarity heatmap out. The app
//! only sends requests to the worker and renders its events.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use leptos::prelude::*;

use crate::core::records::responses_from_lines;
use crate::engine::protocol::{BackendInfo, Event, Request, SimilarityKind};

use super::bridge::Bridge;
use super::components::{BackendBadge, DeviationBars, Heatmap, ResponsesInput};

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
    pub texts: Vec<String>,
    pub similarity: Vec<Vec<f64>>,
    pub deviation: Vec<f64>,
    pub weight: Vec<f64>,
    pub millis: f64,
}

#[component]
pub fn App() -> impl IntoView {
    let text = RwSignal::new(EXAMPLE.to_string());
    let backend = RwSignal::new(None::<BackendInfo>);
    let shown = RwSignal::new(None::<Shown>);
    let status = RwSignal::new("Starting the worker…".to_string());
    let sent: Rc<RefCell<BTreeMap<u64, Vec<String>>>> = Rc::default();

    let sent_for_events = sent.clone();
    let bridge = Bridge::spawn(move |event| match event {
        Event::Ready { backend: info } => {
            status.set(format!("Worker ready on {}", info.label()));
            backend.set(Some(info));
        }
        Event::Analysis { id, distances, deviation, weight, millis } => {
            let mut sent = sent_for_events.borrow_mut();
            let Some(texts) = sent.remove(&id) else { return };
            sent.retain(|&other, _| other > id);
            let n = distances.len();
            let similarity = (0..n).map(|i| (0..n).map(|j| 1.0 - distances.get(i, j)).collect()).collect();
            status.set(format!("{n} responses analysed in {millis:.1} ms"));
            shown.set(Some(Shown { texts, similarity, deviation, weight, millis }));
        }
        Event::Error { message, .. } => status.set(format!("Error: {message}")),
    });
    let bridge = match bridge {
        Ok(bridge) => Some(bridge),
        Err(message) => {
            status.set(message);
            None
        }
    };

    Effect::new(move |_| {
        let texts = responses_from_lines(&text.get());
        if texts.len() < 2 {
            status.set("Enter at least two responses, one per line.".into());
            return;
        }
        if let Some(bridge) = &bridge {
            let kept = texts.clone();
            let id = bridge.request(|id| Request::Analyze { id, similarity: SimilarityKind::Jaccard, texts });
            sent.borrow_mut().insert(id, kept);
        }
    });

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
            <DeviationBars shown=shown.into() />
            <Heatmap shown=shown.into() />
        </main>
        <p class="status" role="status" aria-live="polite" data-testid="status">{move || status.get()}</p>
    }
}
