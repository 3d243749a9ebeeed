//! The page's state and how each worker event changes it: `PageState::apply` is the one place
//! events land (the training panel's part is [`TrainView::apply`]). No web-sys: the page's
//! behaviour is tested natively, event by event; the Leptos app only renders it and sends the
//! requests it implies.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::engine::protocol::{BackendInfo, Event, ModelName, SimilarityKind};
use crate::page::training::{Followup, TrainView};
use crate::page::view::{Download, Generated, GeneratedItem, ModelState, Shown};
use crate::page::watchdog::Restart;

/// Everything the page shows that the worker's events change.
#[derive(Clone, Debug, PartialEq)]
pub struct PageState {
    pub backend: Option<BackendInfo>,
    /// MiniLM, loaded as the worker starts.
    pub embedder: ModelState,
    /// SmolLM2, loaded on the first generation or training set-up.
    pub lm: ModelState,
    pub generated: Generated,
    pub shown: Option<Shown>,
    pub training: TrainView,
    /// The status line.
    pub status: String,
    pub cache_note: Option<String>,
    /// A notice about the worker (replaced, or given up on) that stays until dismissed.
    pub worker_notice: Option<String>,
    /// Analyses sent and not answered yet: id → the texts they are for.
    pub sent: BTreeMap<u64, Vec<String>>,
}

impl Default for PageState {
    fn default() -> Self {
        Self {
            backend: None,
            embedder: ModelState::Loading(Download::default()),
            lm: ModelState::Idle,
            generated: Generated::default(),
            shown: None,
            training: TrainView::default(),
            status: "Starting the worker…".into(),
            cache_note: None,
            worker_notice: None,
            sent: BTreeMap::new(),
        }
    }
}

/// The similarity kind actually computed: the chosen one, or Jaccard while MiniLM is not loaded.
pub fn effective_kind(chosen: SimilarityKind, embedder_ready: bool) -> SimilarityKind {
    if chosen.needs_embedder() && !embedder_ready { SimilarityKind::Jaccard } else { chosen }
}

/// What the app does after an event, beyond showing the new state.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The training view's follow-up (record a run, send the lesson's steps).
    Training(Followup),
    /// Finished continuations become the responses the panels analyse.
    SetResponses(String),
    /// Offer `bytes` as a file named `name` (a lane's adapters).
    Download { name: String, bytes: Vec<u8> },
}

impl PageState {
    /// Applies one worker event at time `now` (ms); events for requests the page no longer
    /// waits on (another generation, a superseded analysis, another session) change nothing.
    pub fn apply(&mut self, event: Event, now: f64) -> Option<Action> {
        if let Some(followup) = self.training.apply(&event, now) {
            return Some(Action::Training(followup));
        }
        match event {
            Event::TrainAdapters { id, lane, steps, safetensors } if self.training.id == Some(id) => {
                let method = self.training.lanes.get(lane).map_or("lane", |l| l.method.name());
                match BASE64.decode(safetensors) {
                    Ok(bytes) => return Some(Action::Download { name: format!("deviate-{method}-step{steps}.safetensors"), bytes }),
                    Err(error) => self.training.status = format!("Error: the worker sent unreadable adapters ({error})"),
                }
            }
            Event::TrainTrl { id, lane, zip, .. } if self.training.id == Some(id) => {
                let method = self.training.lanes.get(lane).map_or("lane", |l| l.method.name());
                match BASE64.decode(zip) {
                    Ok(bytes) => return Some(Action::Download { name: format!("deviate-trl-lane-{}-{method}.zip", lane + 1), bytes }),
                    Err(error) => self.training.status = format!("Error: the worker sent an unreadable archive ({error})"),
                }
            }
            Event::Ready { backend } => {
                self.status = format!("Worker ready on {}", backend.label());
                self.backend = Some(backend);
            }
            Event::ModelProgress { model, file, loaded, total, cached, millis } => self.model(model).progress(file, loaded, total, cached, millis),
            Event::ModelReady { model, cached, millis, memory_bytes } => {
                *self.model(model) = ModelState::Ready { cached, millis, memory_bytes }
            }
            Event::ModelError { model, message } => *self.model(model) = ModelState::Failed(message),
            Event::GenerationStarted { id, prompt_tokens } if self.generated.id == Some(id) => {
                self.generated.summary = format!("Prompt read ({prompt_tokens} tokens); sampling…");
            }
            Event::Token { id, index, delta } if self.generated.id == Some(id) => {
                if let Some(item) = self.generated.items.get_mut(index) {
                    item.text.push_str(&delta);
                }
            }
            Event::ContinuationDone { id, index, continuation } if self.generated.id == Some(id) => {
                let item = self.generated.items.get_mut(index)?;
                *item = GeneratedItem { text: continuation.text, finish: Some(continuation.finish) };
                let lines = self.generated.finished_lines();
                return (lines.lines().count() >= 2).then_some(Action::SetResponses(lines));
            }
            Event::GenerationDone { id, tokens, millis, stopped } if self.generated.id == Some(id) => {
                let g = &mut self.generated;
                g.running = false;
                let rate = tokens as f64 / (millis / 1000.0).max(1e-9);
                let how = if stopped { "Stopped" } else { "Done" };
                g.summary = format!("{how}: {tokens} tokens in {:.1} s ({rate:.1} tokens/s).", millis / 1000.0);
            }
            Event::CacheCleared => self.cache_note = Some("Cache cleared: the model downloads again on the next visit.".into()),
            Event::Analysis { id, similarity: similarity_kind, distances, deviation, weight, truncated, millis } => {
                let texts = self.sent.remove(&id)?;
                self.sent.retain(|&other, _| other > id);
                let n = distances.len();
                let similarity = (0..n).map(|i| (0..n).map(|j| 1.0 - distances.get(i, j)).collect()).collect();
                self.status = format!("{n} responses analysed ({similarity_kind}) in {millis:.1} ms");
                self.shown = Some(Shown { similarity_kind, texts, similarity, deviation, weight, truncated, millis });
            }
            Event::Error { id, message } => self.error(id, message),
            // Training events went to the training view above; the page never asks for raw
            // embeddings; the bridge keeps pings and crashes to itself; stale ids are ignored.
            _ => {}
        }
        None
    }

    fn model(&mut self, model: ModelName) -> &mut ModelState {
        match model {
            ModelName::Lm => &mut self.lm,
            ModelName::Embedder => &mut self.embedder,
        }
    }

    /// A failed request: its generation or training session says so, else the status line.
    fn error(&mut self, id: Option<u64>, message: String) {
        if id.is_some() && self.generated.id == id {
            self.generated.running = false;
            self.generated.summary = format!("Error: {message}");
        } else if id.is_none() || self.training.id != id {
            self.status = format!("Error: {message}");
        }
    }

    /// An analysis of `texts` was sent as request `id`.
    pub fn analysis_sent(&mut self, id: u64, texts: Vec<String>) {
        self.sent.insert(id, texts);
    }

    /// The responses cannot be analysed (`why`); answers on their way are for texts no longer there.
    pub fn analysis_refused(&mut self, why: String) {
        self.sent.clear();
        self.status = why;
    }

    /// Whether the page waits on work it asked of the worker (the watchdog allows it longer).
    pub fn busy(&self) -> bool {
        self.generated.running || self.training.busy || self.embedder.is_loading() || self.lm.is_loading()
    }

    /// The worker was replaced (or given up on): what it held is said plainly, and the models
    /// load again (the embedder at once, the LM on the next generation, both from the cache).
    pub fn worker_replaced(&mut self, restart: &Restart) {
        self.worker_notice = Some(restart.words(self.training.id.is_some()));
        if restart.given_up {
            return;
        }
        self.backend = None;
        self.embedder = ModelState::Loading(Download::default());
        if !matches!(self.lm, ModelState::Failed(_)) {
            self.lm = ModelState::Idle;
        }
        if self.generated.running {
            self.generated.running = false;
            self.generated.summary = "Interrupted: the worker stopped. Press Generate again.".into();
        }
        if self.training.id.is_some() {
            let status = "The lanes were lost with the worker: press Set up to start them again from scratch.".into();
            self.training = TrainView { status, ..TrainView::default() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::deviation::DistanceMatrix;
    use crate::engine::generate::{Continuation, Finish};

    fn generating(id: u64, n: usize) -> PageState {
        PageState { generated: Generated::started(id, "a prompt".into(), n, 0), ..PageState::default() }
    }

    fn done(text: &str) -> Continuation {
        Continuation { text: text.into(), token_ids: vec![1, 2], finish: Finish::Stop }
    }

    #[test]
    fn the_embedder_kinds_fall_back_to_jaccard_until_minilm_is_ready() {
        assert_eq!(effective_kind(SimilarityKind::Semantic, false), SimilarityKind::Jaccard);
        assert_eq!(effective_kind(SimilarityKind::Semantic, true), SimilarityKind::Semantic);
        assert_eq!(effective_kind(SimilarityKind::Jaccard, false), SimilarityKind::Jaccard);
    }

    #[test]
    fn ready_and_model_events_update_the_badge_and_the_model_panels() {
        let mut page = PageState::default();
        let backend = BackendInfo::Cpu { reason: "no WebGPU".into() };
        assert_eq!(page.apply(Event::Ready { backend: backend.clone() }, 0.0), None);
        assert_eq!((page.backend.as_ref(), page.status.as_str()), (Some(&backend), "Worker ready on CPU (no WebGPU)"));
        let progress = |model, loaded| Event::ModelProgress { model, file: "f".into(), loaded, total: 10, cached: false, millis: 700.0 };
        page.apply(progress(ModelName::Lm, 3), 0.0);
        page.apply(progress(ModelName::Lm, 7), 0.0);
        assert_eq!(page.lm, ModelState::Loading(Download { files: vec![("f".into(), 7, 10, false)], millis: 700.0 }), "one entry per file, updated");
        assert!(page.busy());
        page.apply(Event::ModelReady { model: ModelName::Lm, cached: true, millis: 5.0, memory_bytes: 1.0 }, 0.0);
        assert!(page.lm.is_ready());
        page.apply(Event::ModelError { model: ModelName::Embedder, message: "bad file".into() }, 0.0);
        assert_eq!(page.embedder, ModelState::Failed("bad file".into()));
        assert!(!page.busy());
    }

    #[test]
    fn a_generation_streams_and_its_finished_lines_become_the_responses() {
        let mut page = generating(4, 2);
        page.apply(Event::GenerationStarted { id: 4, prompt_tokens: 12 }, 0.0);
        assert_eq!(page.generated.summary, "Prompt read (12 tokens); sampling…");
        page.apply(Event::Token { id: 4, index: 1, delta: "Once".into() }, 0.0);
        page.apply(Event::Token { id: 4, index: 9, delta: "out of range".into() }, 0.0);
        assert_eq!(page.generated.items[1].text, "Once");
        let first = Event::ContinuationDone { id: 4, index: 0, continuation: done("A  cat\nsat.") };
        assert_eq!(page.apply(first, 0.0), None, "one finished line is not yet a set of responses");
        let second = Event::ContinuationDone { id: 4, index: 1, continuation: done("Once upon") };
        assert_eq!(page.apply(second, 0.0), Some(Action::SetResponses("A cat sat.\nOnce upon".into())));
        page.apply(Event::GenerationDone { id: 4, tokens: 4, millis: 2000.0, stopped: false }, 0.0);
        assert!(!page.generated.running);
        assert_eq!(page.generated.summary, "Done: 4 tokens in 2.0 s (2.0 tokens/s).");
    }

    #[test]
    fn events_of_another_generation_change_nothing() {
        let mut page = generating(4, 1);
        let before = page.clone();
        for event in [
            Event::GenerationStarted { id: 3, prompt_tokens: 1 },
            Event::Token { id: 3, index: 0, delta: "x".into() },
            Event::ContinuationDone { id: 3, index: 0, continuation: done("x") },
            Event::GenerationDone { id: 3, tokens: 1, millis: 1.0, stopped: true },
            Event::Embeddings { id: 3, token_ids: vec![], vectors: vec![], truncated: vec![] },
            Event::Pong,
            Event::Crashed { message: "handled by the bridge".into() },
        ] {
            assert_eq!(page.apply(event, 0.0), None);
        }
        assert_eq!(page, before);
    }

    #[test]
    fn analyses_show_the_answered_texts_and_drop_older_answers() {
        let mut page = PageState::default();
        page.analysis_sent(1, vec!["a".into(), "b".into()]);
        page.analysis_sent(2, vec!["c".into(), "d".into()]);
        let answer = |id| Event::Analysis {
            id,
            similarity: SimilarityKind::Jaccard,
            distances: DistanceMatrix::from_fn(2, |i, j| if i == j { 0.0 } else { 0.25 }),
            deviation: vec![0.25, 0.25],
            weight: vec![1.0, 1.0],
            truncated: vec![],
            millis: 1.5,
        };
        page.apply(answer(2), 0.0);
        let shown = page.shown.clone().unwrap();
        assert_eq!((shown.texts, shown.similarity[0][1]), (vec!["c".to_string(), "d".to_string()], 0.75));
        assert_eq!(page.status, "2 responses analysed (jaccard) in 1.5 ms");
        assert!(page.sent.is_empty(), "the older request's answer is no longer wanted");
        let before = page.clone();
        page.apply(answer(1), 0.0);
        assert_eq!(page, before, "a late answer to a superseded request is ignored");
        page.analysis_sent(3, vec!["e".into()]);
        page.analysis_refused("Enter at least two responses, one per line.".into());
        assert!(page.sent.is_empty());
        assert_eq!(page.status, "Enter at least two responses, one per line.");
    }

    #[test]
    fn errors_land_where_their_request_is_shown() {
        let mut page = generating(4, 1);
        page.apply(Event::Error { id: Some(4), message: "no LM".into() }, 0.0);
        assert_eq!((page.generated.running, page.generated.summary.as_str()), (false, "Error: no LM"));
        page.training = TrainView::setting_up(9, None);
        page.apply(Event::Error { id: Some(9), message: "no data".into() }, 0.0);
        assert_eq!(page.training.status, "Error: no data");
        assert_eq!(page.status, "Starting the worker…", "the training panel shows its own error");
        page.apply(Event::Error { id: None, message: "bad request".into() }, 0.0);
        assert_eq!(page.status, "Error: bad request");
        page.apply(Event::CacheCleared, 0.0);
        assert!(page.cache_note.is_some());
    }

    #[test]
    fn training_events_go_to_the_training_view_with_their_follow_ups() {
        let mut page = PageState { training: TrainView::setting_up(9, Some(2)), ..PageState::default() };
        let ready = Event::TrainReady { id: 9, methods: vec![crate::engine::train::Method::Dpo], pairs: vec![4] };
        assert_eq!(page.apply(ready, 0.0), None);
        assert_eq!(page.training.lanes.len(), 1);
        let idle = Event::TrainIdle { id: 9, steps: 0, paused: false, memory_bytes: 1e6 };
        assert_eq!(page.apply(idle, 0.0), Some(Action::Training(Followup::Run { steps: 2 })));
        assert!(page.busy());
    }

    #[test]
    fn a_lanes_adapters_become_a_download_and_a_load_is_noted() {
        let mut page = PageState { training: TrainView::setting_up(9, None), ..PageState::default() };
        let ready = Event::TrainReady { id: 9, methods: vec![crate::engine::train::Method::Ddpo], pairs: vec![4] };
        page.apply(ready, 0.0);
        let adapters = Event::TrainAdapters { id: 9, lane: 0, steps: 3, safetensors: BASE64.encode([1u8, 2, 3]) };
        let download = Action::Download { name: "deviate-ddpo-step3.safetensors".into(), bytes: vec![1, 2, 3] };
        assert_eq!(page.apply(adapters, 0.0), Some(download));
        assert!(page.training.lanes[0].adapters.as_deref().unwrap().contains("after step 3 downloaded"));
        let other = Event::TrainAdapters { id: 8, lane: 0, steps: 3, safetensors: BASE64.encode([1u8]) };
        assert_eq!(page.apply(other, 0.0), None, "another session's adapters are not offered");
        let broken = Event::TrainAdapters { id: 9, lane: 0, steps: 3, safetensors: "not base64!".into() };
        assert_eq!(page.apply(broken, 0.0), None);
        assert!(page.training.status.starts_with("Error: the worker sent unreadable adapters"));
        page.apply(Event::TrainImported { id: 9, lane: 0, bytes: 1_843_000 }, 0.0);
        assert!(page.training.lanes[0].adapters.as_deref().unwrap().starts_with("Adapters loaded (1.8 MB)"));
    }

    #[test]
    fn a_lanes_files_for_trl_become_a_zip_download() {
        let mut page = PageState { training: TrainView::setting_up(9, None), ..PageState::default() };
        let ready = Event::TrainReady { id: 9, methods: vec![crate::engine::train::Method::Dpo, crate::engine::train::Method::Ddpo], pairs: vec![4, 4] };
        page.apply(ready, 0.0);
        let zip = Event::TrainTrl { id: 9, lane: 1, zip: BASE64.encode([7u8, 8]), adapters: true };
        let download = Action::Download { name: "deviate-trl-lane-2-ddpo.zip".into(), bytes: vec![7, 8] };
        assert_eq!(page.apply(zip, 0.0), Some(download));
        assert!(page.training.status.contains("for TRL downloaded: pairs, its adapters"), "{}", page.training.status);
        let other = Event::TrainTrl { id: 8, lane: 0, zip: BASE64.encode([1u8]), adapters: false };
        assert_eq!(page.apply(other, 0.0), None, "another session's files are not offered");
    }

    #[test]
    fn a_replaced_worker_reloads_its_models_and_says_what_was_lost() {
        let mut page = generating(4, 1);
        page.training = TrainView::setting_up(9, None);
        page.lm = ModelState::Ready { cached: true, millis: 1.0, memory_bytes: 1.0 };
        page.embedder = ModelState::Ready { cached: true, millis: 1.0, memory_bytes: 1.0 };
        page.backend = Some(BackendInfo::Cpu { reason: "r".into() });
        let restart = Restart { reason: "it failed: boom".into(), cpu_fallback: true, given_up: false };
        page.worker_replaced(&restart);
        let notice = page.worker_notice.clone().unwrap();
        assert!(notice.starts_with("The worker stopped (it failed: boom); a new one started"), "{notice}");
        assert!(notice.contains("It runs on the CPU from now on.") && notice.contains("The training lanes were lost"));
        assert_eq!((page.backend.clone(), page.lm.clone()), (None, ModelState::Idle));
        assert!(page.embedder.is_loading() && !page.generated.running && page.training.id.is_none());
        assert_eq!(page.generated.summary, "Interrupted: the worker stopped. Press Generate again.");

        let mut gave_up = PageState::default();
        gave_up.worker_replaced(&Restart { reason: "it failed: oom".into(), cpu_fallback: false, given_up: true });
        assert!(gave_up.worker_notice.unwrap().ends_with("reload the page."));
    }
}
