//! The page: the experiment the learner edits (what a share link holds), the page state the
//! worker's events change ([`PageState`], plain Rust, tested natively), and the panels that
//! render them. The app sends requests to the worker and hands its events to the state; it
//! never runs a model.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;

use crate::engine::learner::{LearnerData, ratings_to_set};
use crate::engine::link::{Experiment, Section};
use crate::page::state::PageState;

use super::actions::{self, Edits, Notes};
use super::bridge::Bridge;
use super::components::{
    BackendBadge, DeviationBars, GeneratePanel, Heatmap, LessonGuide, ModelPanel, PoolRatings, ResponsesInput, SendRatings, Sets, SharePanel, TrainingPanel,
};
use super::state;

#[component]
pub fn App() -> impl IntoView {
    let boot = state::boot();
    // A first visit (nothing of the learner's stored) opens on the lesson, as a lesson link does.
    let fresh = boot.learner == LearnerData::default() && boot.link_error.is_none();
    let initial = boot.experiment.clone();
    let edits = Edits::new(&initial);
    let notes = Notes {
        learner: RwSignal::new(boot.learner),
        link_error: RwSignal::new(boot.link_error),
        storage_error: RwSignal::new(boot.storage_error),
    };
    let experiment = edits.experiment(initial.panel, initial.hide.clone());
    let saver = Rc::new(RefCell::new(boot.saver));
    actions::follow_address_and_save(experiment, notes, saver.clone(), boot.keeper);
    let page = RwSignal::new(PageState::default());
    let lesson_run = RwSignal::new(None::<(u64, usize)>);
    let bridge = actions::connect(page, edits, notes, lesson_run);
    actions::keep_watchdog_informed(page, bridge.clone());
    actions::send_lesson_steps(lesson_run, bridge.clone());
    let effective = actions::analyse_responses(page, edits, bridge.clone());
    actions::open_pasted_links(experiment, notes);
    if let Some(section) = initial.panel {
        request_animation_frame(move || state::scroll_to(&format!("{}-heading", section.name())));
    }
    if initial.lesson {
        request_animation_frame(|| state::focus("lesson-run"));
    }
    let shown = move |section: Section| !initial.hide.contains(&section);
    let pooled = RwSignal::new(None::<crate::core::dataset::PreferenceSet>);
    view! {
        <header class="top">
            <h1>"Deviate"</h1>
            <p class="tagline">
                "How far does each response stray from the others? Deviation-weighted preference optimisation, in your browser."
            </p>
            <BackendBadge backend=part(page, |p| p.backend.clone()) />
        </header>
        {notice("link-error", notes.link_error.into(), move || notes.link_error.set(None))}
        {notice("worker-notice", part(page, |p| p.worker_notice.clone()), move || page.update(|p| p.worker_notice = None))}
        {notice("storage-error", notes.storage_error.into(), move || notes.storage_error.set(None))}
        <main class="panels">
            {shown(Section::Training).then(|| view! {
                <LessonGuide view_state=part(page, |p| p.training.clone()) shown=part(page, |p| p.shown.clone()) setup=edits.setup
                    run_steps=edits.run_steps link=initial.lesson open=initial.lesson || fresh presenting=edits.presenter
                    on_action=actions::train(page, edits, bridge.clone()) />
            })}
            <h2 id="explore" class="explore">"Explore everything"</h2>
            {shown(Section::Generate).then(|| generate_panel(page, edits, notes, bridge.clone()))}
            {shown(Section::Responses).then(|| view! { <ResponsesInput text=edits.text /> })}
            {shown(Section::Deviation).then(|| view! {
                <DeviationBars shown=part(page, |p| p.shown.clone()) kind=edits.kind effective=effective />
            })}
            {shown(Section::Heatmap).then(|| view! { <Heatmap shown=part(page, |p| p.shown.clone()) /> })}
            {shown(Section::Model).then(|| model_panel(page, bridge.clone()))}
            {shown(Section::Training).then(|| training_panel(page, edits, notes, bridge.clone(), initial.train.data.clone(), pooled))}
            {shown(Section::Training).then(|| view! { <PoolRatings pooled=pooled on_show=move |lines| edits.text.set(lines) /> })}
            {shown(Section::Share).then(|| share_panel(experiment, notes, saver))}
        </main>
        <p class="status" role="status" aria-live="polite" data-testid="status">{part(page, |p| p.status.clone())}</p>
    }
}

/// One part of the page state as a signal that changes only when that part does (a memo), so
/// an event that changes the status line does not redraw, say, a 200 × 200 heatmap.
fn part<T>(page: RwSignal<PageState>, get: fn(&PageState) -> T) -> Signal<T>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    Memo::new(move |_| page.with(get)).into()
}

/// A message that stays until dismissed (`role="alert"`, so screen readers announce it).
fn notice(testid: &'static str, read: Signal<Option<String>>, dismiss: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    move || {
        read.get().map(|text| view! {
            <div class="notice error" role="alert" data-testid=testid>
                <p>{text}</p>
                <button type="button" on:click=move |_| dismiss()>"Dismiss"</button>
            </div>
        })
    }
}

fn generate_panel(page: RwSignal<PageState>, edits: Edits, notes: Notes, bridge: Option<Bridge>) -> impl IntoView {
    let learner = notes.learner;
    view! {
        <GeneratePanel lm=part(page, |p| p.lm.clone())
            generated=part(page, |p| p.generated.clone())
            prompt=edits.prompt params=edits.gen_params
            ratings=Signal::derive(move || learner.with(|l| l.ratings.clone())) on_rate=actions::rate(notes)
            on_generate=actions::generate(page, bridge.clone()) on_stop=actions::stop(page, bridge)>
            <SendRatings generated=part(page, |p| p.generated.clone()) ratings=Signal::derive(move || learner.with(|l| l.ratings.clone())) />
        </GeneratePanel>
    }
}

fn model_panel(page: RwSignal<PageState>, bridge: Option<Bridge>) -> impl IntoView {
    view! {
        <ModelPanel model=part(page, |p| p.embedder.clone())
            note=part(page, |p| p.cache_note.clone()) on_clear=actions::clear_cache(bridge) />
    }
}

fn training_panel(
    page: RwSignal<PageState>,
    edits: Edits,
    notes: Notes,
    bridge: Option<Bridge>,
    link_data: Option<crate::core::dataset::PreferenceSet>,
    pooled: RwSignal<Option<crate::core::dataset::PreferenceSet>>,
) -> impl IntoView {
    // The learner's ratings as training data; a link's own data until there are some.
    let learner = notes.learner;
    let mine = Memo::new(move |_| learner.with(|l| ratings_to_set(&l.ratings)).or_else(|| link_data.clone()));
    let sets = Sets { mine: mine.into(), class: pooled.into() };
    view! {
        <TrainingPanel view_state=part(page, |p| p.training.clone()) setup=edits.setup
            run_steps=edits.run_steps sets=sets on_action=actions::train(page, edits, bridge) />
    }
}

fn share_panel(experiment: Memo<Experiment>, notes: Notes, saver: Rc<RefCell<crate::engine::store::Saver>>) -> impl IntoView {
    let learner = notes.learner;
    let clear = move || learner.update(|l| *l = LearnerData { experiment: l.experiment.clone(), ..Default::default() });
    let rate = actions::rate(notes);
    view! {
        <SharePanel experiment=experiment.into() learner=learner.into() on_export=actions::export(experiment, notes)
            on_import=actions::import(notes, saver) on_clear=clear on_unrate=move |asked, text| rate(asked, text, None) />
    }
}
