//! The lesson, first: a short guided sequence at the top of the page, each step with its live
//! element — (1) one prompt's responses with their deviation bars, (2) what a pair counts for
//! under DDPO, (3) Run, with the step counter and time left, (4) the result in one chart, the
//! published seeds' strip and the before/after continuations. The Run control stays in view
//! at every step. Presenter mode (a button or the link's flag) shows one step at a time in
//! large type: ←/→ and space move, Esc leaves.

use leptos::prelude::*;

use crate::engine::protocol::{LESSON_STEPS, TrainSetup};
use crate::page::lesson_chart::combined;
use crate::page::seeds::LessonSeeds;
use crate::page::training::{LessonPhase, TrainView};
use crate::page::view::Shown;

use super::lesson_chart::{lesson_chart, seed_strip};
use super::training::TrainAction;

/// The steps' titles, in order.
const STEPS: [&str; 4] = ["Which answer is unusual?", "DDPO counts a pair by how unusual its chosen answer is", "Run the lesson", "The result"];

/// Step 1: each response's deviation as a bar (the analysis the Deviation panel shows).
fn deviations(shown: Signal<Option<Shown>>) -> impl IntoView {
    move || {
        shown.with(|s| {
            let Some(s) = s else { return view! { <p class="hint">"Measuring how far each answer strays from the others…"</p> }.into_any() };
            let top = s.deviation.iter().copied().fold(f64::MIN, f64::max);
            let rows = s.texts.iter().zip(&s.deviation).map(|(text, &d)| {
                let width = if top > 0.0 { 100.0 * d / top } else { 0.0 };
                let class = if d >= top { "top" } else { "" };
                view! {
                    <li data-testid="guide-bar" data-deviation=d.to_string() class=class>
                        <span class="guide-text">{text.clone()}</span>
                        <span class="guide-bar" style:width=format!("{width:.0}%") aria-hidden="true"></span>
                        <span class="guide-value">{format!("deviation {d:.3}")}</span>
                    </li>
                }
            }).collect_view();
            view! {
                <p>"Each answer is compared with the others. The longer its bar, the more it differs from them: the most unusual answer is marked."</p>
                <ol class="guide-bars">{rows}</ol>
            }
            .into_any()
        })
    }
}

/// Step 2: the weight each response would give a pair it is the chosen answer of.
fn weights(shown: Signal<Option<Shown>>) -> impl IntoView {
    move || {
        shown.with(|s| {
            let s = s.as_ref()?;
            let mut order: Vec<usize> = (0..s.texts.len()).collect();
            order.sort_by(|&a, &b| s.weight[b].total_cmp(&s.weight[a]));
            let rows = order.into_iter().map(|i| {
                view! { <tr data-testid="guide-weight"><td>{s.texts[i].clone()}</td><td>{format!("{:.3}", s.deviation[i])}</td><td>{format!("×{:.2}", s.weight[i])}</td></tr> }
            });
            Some(view! {
                <p>"DPO learns from pairs: a better answer (chosen) against a worse one (rejected), every pair alike. "
                   "DDPO multiplies each pair by a weight that grows with the chosen answer's deviation, so unusual good answers count more."</p>
                <table class="metrics">
                    <caption class="hint">"If this answer were chosen, its pair would count"</caption>
                    <thead><tr><th scope="col">"answer"</th><th scope="col">"deviation"</th><th scope="col">"DDPO weight"</th></tr></thead>
                    <tbody>{rows.collect_view()}</tbody>
                </table>
            })
        })
    }
}

/// Step 3: what Run does, and its progress (the step counter and time left are the status line's).
fn run_step(view_state: Signal<TrainView>) -> impl IntoView {
    let progress = move || {
        view_state.with(|v| {
            let lesson = v.lesson?;
            let lanes = v.lanes.len().max(1);
            let done: usize = v.lanes.iter().map(|l| l.rows.len()).sum();
            Some(view! { <progress max=(lesson.steps * lanes).to_string() value=done.to_string() aria-label="lesson progress (lane-steps)"></progress> })
        })
    };
    view! {
        <p>"Run trains two copies of the model side by side on the same pairs: one with DPO, one with DDPO. "
           "After the last step each is probed: how much more likely did training make each good answer?"</p>
        {progress}
    }
}

/// Step 4: the slope difference, the one chart, the seeds' strip and the before/after.
fn result_step(view_state: Signal<TrainView>) -> impl IntoView {
    let done = move || view_state.with(|v| v.lesson.is_some_and(|l| l.phase == LessonPhase::Done));
    let difference = move || {
        view_state.with(|v| v.slope_difference()).map(|(step, diff)| {
            view! { <p class="diff" data-testid="slope-diff" data-diff=diff.to_string()>{format!("DDPO − DPO slope: {diff:+.2} (step {step})")}</p> }
        })
    };
    // The result in one chart once both lanes were probed after step 0; the seeds' strip when done.
    let result = move || {
        let chart = view_state.with(|v| v.last_probes().filter(|(_, b)| b.step > 0).map(|(a, b)| combined(a, b)))?;
        let strip = done().then(|| seed_strip(LessonSeeds::published(), chart.difference, chart.step));
        Some(view! { <div class="lesson-result">{lesson_chart(chart)}{strip}</div> })
    };
    let before_after = move || {
        let shown = view_state.with(|v| v.before_after());
        (done() && !shown.is_empty()).then(|| {
            let columns = shown
                .into_iter()
                .map(|(who, texts)| {
                    let items = texts.into_iter().map(|t| view! { <li>{t}</li> }).collect_view();
                    view! { <div><h4>{who}</h4><ol>{items}</ol></div> }
                })
                .collect_view();
            view! {
                <div data-testid="before-after">
                    <h3>"Before and after: one held-out prompt, 3 continuations each"</h3>
                    <div class="before-after">{columns}</div>
                </div>
            }
        })
    };
    let waiting = move || (!done() && view_state.with(|v| v.slope_difference().is_none())).then(|| view! { <p class="hint">"Run the lesson to see its result here."</p> });
    view! { {waiting}{difference}{result}{before_after} }
}

/// The step `delta` steps from `step`, within the lesson's steps (1 to [`STEPS`]'s length).
fn moved_by(step: usize, delta: isize) -> usize {
    step.saturating_add_signed(delta).clamp(1, STEPS.len())
}

/// Moves the lesson's steps with the keyboard while presenting: ←/→ and space, Esc leaves.
fn present_with_keys(step: RwSignal<usize>, presenting: RwSignal<bool>) {
    let _ = window_event_listener(leptos::ev::keydown, move |ev| {
        if !presenting.get_untracked() {
            return;
        }
        let typing = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok()).is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        let moved = match ev.key().as_str() {
            "ArrowRight" | " " if !typing => Some(1),
            "ArrowLeft" if !typing => Some(-1),
            "Escape" => {
                presenting.set(false);
                None
            }
            _ => return,
        };
        ev.prevent_default();
        if let Some(delta) = moved {
            step.update(|s| *s = moved_by(*s, delta));
        }
    });
}

/// Presenter mode on the whole page: large type, everything but the lesson hidden (CSS).
fn follow_presenting(presenting: RwSignal<bool>) {
    Effect::new(move |_| {
        let on = presenting.get();
        if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
            let _ = if on { body.class_list().add_1("presenter") } else { body.class_list().remove_1("presenter") };
        }
    });
}

/// The lesson at the top of the page.
#[component]
pub fn LessonGuide(
    view_state: Signal<TrainView>,
    shown: Signal<Option<Shown>>,
    setup: RwSignal<TrainSetup>,
    run_steps: RwSignal<usize>,
    /// Opened by a lesson link: its steps are the link's, and the Run control takes the focus.
    link: bool,
    /// Shown open (a lesson link, or a first visit); a returning learner finds it closed.
    open: bool,
    /// Presenter mode, as the link holds it.
    presenting: RwSignal<bool>,
    on_action: impl Fn(TrainAction) + 'static,
) -> impl IntoView {
    let step = RwSignal::new(1usize);
    let open = RwSignal::new(open || presenting.get_untracked());
    present_with_keys(step, presenting);
    follow_presenting(presenting);
    let busy = move || view_state.with(|v| v.busy);
    // A lesson link sets its steps; elsewhere the lesson runs LESSON_STEPS and the field (so the
    // link) takes that number.
    let steps = move || if link { run_steps.get() } else { LESSON_STEPS };
    let start = move |_| {
        let steps = if link { run_steps.get_untracked() } else { LESSON_STEPS };
        run_steps.set(steps);
        open.set(true);
        step.set(3);
        on_action(TrainAction::Lesson(setup.get_untracked().lesson(steps), steps));
    };
    // The result step opens itself when the lesson ends.
    Effect::new(move |_| {
        if view_state.with(|v| v.lesson.is_some_and(|l| l.phase == LessonPhase::Done)) {
            step.set(4);
        }
    });
    let body = move || {
        match step.get() {
            1 => deviations(shown).into_any(),
            2 => weights(shown).into_any(),
            3 => run_step(view_state).into_any(),
            _ => result_step(view_state).into_any(),
        }
    };
    let nav = move |to: usize| move |_| step.set(to);
    view! {
        <section class="panel wide lesson" data-testid="lesson" aria-labelledby="lesson-heading">
            <div class="lesson-head">
                <h2 id="lesson-heading">"The lesson: does DDPO favour unusual good answers?"</h2>
                <button type="button" id="lesson-run" data-testid="lesson-run" autofocus=link prop:disabled=busy on:click=start>
                    {move || format!("Run the lesson ({} steps of DPO and DDPO)", steps())}
                </button>
                <button type="button" data-testid="presenter" aria-pressed=move || presenting.get().to_string()
                    on:click=move |_| { open.set(true); presenting.update(|p| *p = !*p) }>
                    {move || if presenting.get() { "Leave presenter mode (Esc)" } else { "Presenter mode" }}
                </button>
                <button type="button" data-testid="lesson-toggle" aria-expanded=move || open.get().to_string() on:click=move |_| open.update(|o| *o = !*o)>
                    {move || if open.get() { "Hide the lesson" } else { "Show the lesson" }}
                </button>
            </div>
            <p class="hint lesson-status" role="status" aria-live="polite" data-testid="lesson-status">{move || view_state.with(|v| v.status.clone())}</p>
            <Show when=move || open.get()>
                <nav aria-label="Lesson steps">
                    <ol class="lesson-steps">
                        {STEPS.iter().enumerate().map(|(i, title)| view! {
                            <li><button type="button" data-testid="lesson-step" aria-current=move || (step.get() == i + 1).then_some("step") on:click=nav(i + 1)>{format!("{}. {title}", i + 1)}</button></li>
                        }).collect_view()}
                    </ol>
                </nav>
                <div class="lesson-body" data-testid="lesson-body" data-step=move || step.get().to_string()>
                    <h3>{move || format!("Step {} of {}: {}", step.get(), STEPS.len(), STEPS[step.get() - 1])}</h3>
                    {body}
                </div>
                <div class="buttons">
                    <button type="button" data-testid="lesson-back" prop:disabled=move || step.get() == 1 on:click=move |_| step.update(|s| *s = moved_by(*s, -1))>"← Back"</button>
                    <button type="button" data-testid="lesson-next" prop:disabled=move || step.get() == STEPS.len() on:click=move |_| step.update(|s| *s = moved_by(*s, 1))>"Next →"</button>
                    <a href="#explore" data-testid="explore">"Explore everything"</a>
                </div>
            </Show>
        </section>
    }
}
