//! What the page does: the signals the learner edits, the effects that follow them (address,
//! storage, analyses), the worker's connection, and the actions behind the panels' buttons.
//! Each function wires one thing, so `App` reads as a list.

use std::cell::RefCell;
use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use leptos::prelude::*;

use crate::core::records::responses_from_lines;
use crate::engine::learner::{LearnerData, MAX_IMPORT_BYTES, RunSummary};
use crate::engine::link::{Experiment, MAX_RESPONSES, Section};
use crate::engine::protocol::{GenerateParams, Request, SimilarityKind, TrainSetup};
use crate::engine::store::Saver;
use crate::page::address::{self, Keeper};
use crate::page::state::{Action, PageState, effective_kind};
use crate::page::training::{Followup, TrainView};
use crate::page::view::Generated;

use super::bridge::Bridge;
use super::components::TrainAction;
use super::state;

/// The experiment as the learner edits it: what a share link holds.
#[derive(Clone, Copy)]
pub struct Edits {
    pub text: RwSignal<String>,
    pub kind: RwSignal<SimilarityKind>,
    pub prompt: RwSignal<String>,
    pub gen_params: RwSignal<GenerateParams>,
    pub setup: RwSignal<TrainSetup>,
    pub run_steps: RwSignal<usize>,
    pub lesson: RwSignal<bool>,
    pub presenter: RwSignal<bool>,
}

impl Edits {
    pub fn new(initial: &Experiment) -> Self {
        Self {
            text: RwSignal::new(initial.responses.clone()),
            kind: RwSignal::new(initial.similarity),
            prompt: RwSignal::new(initial.prompt.clone()),
            gen_params: RwSignal::new(initial.generate.clone()),
            setup: RwSignal::new(initial.train.clone()),
            run_steps: RwSignal::new(initial.run_steps),
            lesson: RwSignal::new(initial.lesson),
            presenter: RwSignal::new(initial.presenter),
        }
    }

    /// The whole experiment, as the share link and the saved state hold it.
    pub fn experiment(self, panel: Option<Section>, hide: Vec<Section>) -> Memo<Experiment> {
        Memo::new(move |_| Experiment {
            prompt: self.prompt.get(),
            generate: self.gen_params.get(),
            responses: self.text.get(),
            similarity: self.kind.get(),
            train: self.setup.get(),
            run_steps: self.run_steps.get(),
            panel,
            hide: hide.clone(),
            lesson: self.lesson.get(),
            presenter: self.presenter.get(),
        })
    }
}

/// The learner's own data, and the messages about it and about links (shown until dismissed).
#[derive(Clone, Copy)]
pub struct Notes {
    pub learner: RwSignal<LearnerData>,
    pub link_error: RwSignal<Option<String>>,
    pub storage_error: RwSignal<Option<String>>,
}

/// The address follows the experiment, and the learner's data is saved, on every change. An
/// experiment that its checks refuse is neither put in the address nor saved (a later visit
/// would refuse it).
pub fn follow_address_and_save(experiment: Memo<Experiment>, notes: Notes, saver: Rc<RefCell<Saver>>, mut keeper: Keeper) {
    Effect::new(move |_| {
        let e = experiment.get();
        let keep = keeper.keep(&e);
        if let Some(token) = &keep.address
            && let Err(message) = state::set_address(token)
        {
            notes.storage_error.set(Some(message));
        }
        match &keep.too_long {
            Some(message) => notes.link_error.set(Some(message.clone())),
            None if keep.address.is_some() && notes.link_error.with_untracked(|m| m.as_deref().is_some_and(address::is_too_long)) => {
                notes.link_error.set(None)
            }
            None => {}
        }
        if !keep.save {
            return;
        }
        let data = notes.learner.with(|l| address::to_save(l, e, &keep, state::hash_token()));
        if let Err(message) = saver.borrow_mut().save(&mut state::Local, &data) {
            notes.storage_error.set(Some(message));
        }
    });
}

/// Starts the worker: its events go to the page state, whose follow-ups are done here.
pub fn connect(page: RwSignal<PageState>, edits: Edits, notes: Notes, lesson_run: RwSignal<Option<(u64, usize)>>) -> Option<Bridge> {
    let on_event = move |event| {
        let mut action = None;
        page.update(|p| action = p.apply(event, js_sys::Date::now()));
        match action {
            Some(Action::SetResponses(lines)) => edits.text.set(lines),
            Some(Action::Download { name, bytes }) => {
                if let Err(message) = state::download_bytes(&name, &bytes, "application/octet-stream") {
                    page.update(|p| p.training.status = format!("Error: {message}"));
                }
            }
            Some(Action::Training(Followup::Record { steps })) => record_run(page, edits, notes, steps),
            Some(Action::Training(Followup::Run { steps })) => {
                lesson_run.set(page.with_untracked(|p| p.training.id).map(|id| (id, steps)))
            }
            None => {}
        }
    };
    let on_restart = move |restart| page.update(|p| p.worker_replaced(&restart));
    Bridge::spawn(on_event, on_restart).map_err(|message| page.update(|p| p.status = message)).ok()
}

/// Keeps the finished run in the learner's history.
fn record_run(page: RwSignal<PageState>, edits: Edits, notes: Notes, steps: usize) {
    let lanes = page.with_untracked(|p| p.training.summaries());
    let (seed, data) = edits.setup.with_untracked(|s| (s.train.seed, if s.data.is_some() { "ratings" } else { "toy" }));
    let run = RunSummary { ended: state::now_iso(), steps, seed, data: data.into(), lanes };
    notes.learner.update(|l| l.record(run));
}

/// The watchdog allows a long silence while the worker does what the page asked for.
pub fn keep_watchdog_informed(page: RwSignal<PageState>, bridge: Option<Bridge>) {
    Effect::new(move |_| {
        let busy = page.with(PageState::busy);
        if let Some(bridge) = &bridge {
            bridge.set_busy(busy);
        }
    });
}

/// The lesson's steps go out once its session is set up.
pub fn send_lesson_steps(lesson_run: RwSignal<Option<(u64, usize)>>, bridge: Option<Bridge>) {
    Effect::new(move |_| {
        if let (Some((id, steps)), Some(bridge)) = (lesson_run.get(), &bridge) {
            bridge.send(&Request::TrainRun { id, steps });
            lesson_run.set(None);
        }
    });
}

/// Analyses the responses whenever they or the similarity kind change (latest wins); returns
/// the kind actually computed.
pub fn analyse_responses(page: RwSignal<PageState>, edits: Edits, bridge: Option<Bridge>) -> Signal<SimilarityKind> {
    let model_ready = Memo::new(move |_| page.with(|p| p.embedder.is_ready()));
    let effective = Memo::new(move |_| effective_kind(edits.kind.get(), model_ready.get()));
    Effect::new(move |_| {
        let texts = responses_from_lines(&edits.text.get());
        let similarity = effective.get();
        let refused = if texts.len() < 2 {
            Some("Enter at least two responses, one per line.".to_string())
        } else if texts.len() > MAX_RESPONSES {
            Some(format!("{} responses: the page analyses at most {MAX_RESPONSES}; remove some.", texts.len()))
        } else {
            None
        };
        match (refused, &bridge) {
            (Some(why), _) => page.update(|p| p.analysis_refused(why)),
            (None, Some(bridge)) => {
                let kept = texts.clone();
                let id = bridge.request(|id| Request::Analyze { id, similarity, texts });
                page.update(|p| p.analysis_sent(id, kept));
            }
            (None, None) => {}
        }
    });
    effective.into()
}

/// A link pasted into the address bar of the open page changes only the hash: start over on it.
pub fn open_pasted_links(experiment: Memo<Experiment>, notes: Notes) {
    let _ = window_event_listener(leptos::ev::hashchange, move |_| {
        if state::hash_token() != Some(experiment.get_untracked().encode())
            && let Err(message) = state::reload()
        {
            notes.link_error.set(Some(format!("A new link was pasted, but {message}: reload the page.")));
        }
    });
}

pub fn generate(page: RwSignal<PageState>, bridge: Option<Bridge>) -> impl Fn(String, GenerateParams) + 'static {
    move |prompt, params| {
        let Some(bridge) = &bridge else { return };
        let (n, asked, seed) = (params.n, prompt.clone(), params.sampling.seed);
        let id = bridge.send_new(|id| Request::Generate { id, prompt, params });
        page.update(|p| p.generated = Generated::started(id, asked, n, seed));
    }
}

pub fn stop(page: RwSignal<PageState>, bridge: Option<Bridge>) -> impl Fn() + 'static {
    move || {
        let running = page.with_untracked(|p| p.generated.running.then_some(p.generated.id).flatten());
        if let (Some(bridge), Some(id)) = (&bridge, running) {
            bridge.send(&Request::StopGeneration { id });
        }
    }
}

pub fn clear_cache(bridge: Option<Bridge>) -> impl Fn() + 'static {
    move || {
        if let Some(bridge) = &bridge {
            bridge.send(&Request::ClearCache);
        }
    }
}

pub fn train(page: RwSignal<PageState>, edits: Edits, bridge: Option<Bridge>) -> impl Fn(TrainAction) + 'static {
    move |action| {
        let Some(bridge) = &bridge else { return };
        let session = page.with_untracked(|p| p.training.id);
        match action {
            TrainAction::SetUp(setup) => {
                let id = bridge.send_new(|id| Request::TrainStart { id, setup });
                page.update(|p| p.training = TrainView::setting_up(id, None));
            }
            TrainAction::Lesson(setup, steps) => {
                edits.lesson.set(true);
                let id = bridge.send_new(|id| Request::TrainStart { id, setup });
                page.update(|p| p.training = TrainView::setting_up(id, Some(steps)));
            }
            TrainAction::Run(steps) => {
                if let Some(id) = session {
                    bridge.send(&Request::TrainRun { id, steps });
                    page.update(|p| p.training.running(steps));
                }
            }
            TrainAction::Pause => {
                if let Some(id) = session {
                    bridge.send(&Request::TrainPause { id });
                    page.update(|p| p.training.status = "Pausing after the step in progress…".into());
                }
            }
            TrainAction::Download(lane) => {
                if let Some(id) = session {
                    bridge.send(&Request::TrainExport { id, lane });
                }
            }
            TrainAction::Trl(lane) => {
                if let Some(id) = session {
                    // The address always holds the whole experiment (see `set_address`).
                    let link = state::current_address();
                    let steps = edits.run_steps.get_untracked();
                    bridge.send(&Request::TrainExportTrl { id, lane, steps, link });
                    page.update(|p| p.training.status = "Packing the lane's files for TRL (the first time, with the deviations of every training prompt: a few seconds)…".into());
                }
            }
            TrainAction::Upload(lane, bytes) => {
                if let Some(id) = session {
                    bridge.send(&Request::TrainImport { id, lane, safetensors: BASE64.encode(bytes) });
                    page.update(|p| p.training.status = "Loading the adapters…".into());
                }
            }
        }
    }
}

/// Scores (or, with `None`, unscores) a continuation; a refused rating is said, nothing lost.
pub fn rate(notes: Notes) -> impl Fn(String, String, Option<u8>) + Copy + Send + Sync + 'static {
    move |asked, text, score| {
        let mut result = Ok(());
        notes.learner.update(|l| result = l.rate(&asked, &text, score));
        if let Err(message) = result {
            notes.storage_error.set(Some(message));
        }
    }
}

pub fn export(experiment: Memo<Experiment>, notes: Notes) -> impl Fn() + 'static {
    move || {
        let data = notes.learner.with_untracked(|l| LearnerData { experiment: experiment.get_untracked(), ..l.clone() });
        if let Err(message) = state::download("deviate-data.json", &data.to_json()) {
            notes.storage_error.set(Some(format!("Export failed: {message}")));
        }
    }
}

/// Reads an exported file; the page restarts on it (the components read their fields once).
pub fn import(notes: Notes, saver: Rc<RefCell<Saver>>) -> impl Fn(web_sys::File) + 'static {
    move |file| {
        if file.size() > MAX_IMPORT_BYTES as f64 {
            let (name, mb) = (file.name(), file.size() / 1e6);
            let limit = MAX_IMPORT_BYTES / (1024 * 1024);
            notes.storage_error.set(Some(format!("Import refused: {name} is {mb:.1} MB; an export is at most {limit} MB.")));
            return;
        }
        let saver = saver.clone();
        leptos::task::spawn_local(async move {
            let read = gloo_file::futures::read_as_text(&gloo_file::File::from(file)).await;
            match read.map_err(|e| e.to_string()).and_then(|json| LearnerData::from_json(&json)) {
                Ok(data) => {
                    // Opened again on reload: from the address if its link fits, else from storage.
                    let keep = Keeper::new(&address::opening("", &data)).keep(&data.experiment);
                    let data = address::to_save(&data, data.experiment.clone(), &keep, state::hash_token());
                    import_and_reload(notes, &saver, &data, keep.address.as_deref())
                }
                Err(message) => notes.storage_error.set(Some(format!("Import refused: {message}"))),
            }
        });
    }
}

/// Saves imported `data`, writes `token` (if any) into the address and reloads onto it.
fn import_and_reload(notes: Notes, saver: &Rc<RefCell<Saver>>, data: &LearnerData, token: Option<&str>) {
    match saver.borrow_mut().save(&mut state::Local, data) {
        Ok(()) => {
            if let Err(message) = token.map_or(Ok(()), state::set_address).and_then(|()| state::reload()) {
                notes.storage_error.set(Some(format!("Imported, but {message}: reload the page.")));
            }
        }
        Err(message) => notes.storage_error.set(Some(message)),
    }
}
