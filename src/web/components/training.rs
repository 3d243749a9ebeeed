use leptos::prelude::*;

use crate::engine::learner::weights_all_equal;
use crate::engine::protocol::{EvalSetup, LESSON_STEPS, MAX_PAIRS_PER_STEP, MAX_RUN_STEPS, Method, PreferenceSet, ProbeSetup, TrainConfig, TrainSetup};
use crate::page::training::{LaneView, LessonPhase, TrainView};

use super::probe::probe_view;

/// What the panel asks the app to send.
pub enum TrainAction {
    SetUp(TrainSetup),
    /// The one-click lesson: set up this setup, then run this many steps.
    Lesson(TrainSetup, usize),
    Run(usize),
    Pause,
}

/// A polyline of `values` in a 120×40 box (empty for fewer than two points).
fn sparkline(values: &[f64]) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * 120.0 / (values.len() - 1) as f64, 38.0 - (v - lo) / span * 36.0))
        .collect::<Vec<_>>()
        .join(" ")
}

fn lane_view(lane: LaneView, beta: f64, lambda: f64) -> impl IntoView {
    let name = lane.method.name().to_uppercase();
    let losses: Vec<f64> = lane.rows.iter().map(|r| r.loss).collect();
    let margins: Vec<f64> = lane.rows.iter().map(|r| r.rewards_margins).collect();
    let last = lane.rows.last().cloned();
    let diversity: Vec<f64> = lane.evals.iter().map(|e| e.semantic_diversity).collect();
    let loglik: Vec<f64> = lane.evals.iter().map(|e| e.reference_loglik).collect();
    let evals = lane
        .evals
        .iter()
        .rev()
        .map(|e| {
            view! {
                <tr data-testid="eval-row">
                    <td>{e.step}</td>
                    <td data-testid="eval-semantic">{format!("{:.3}", e.semantic_diversity)}</td>
                    <td>{format!("{:.3}", e.jaccard_diversity)}</td>
                    <td data-testid="eval-loglik">{format!("{:.2}", e.reference_loglik)}</td>
                    <td>{format!("{:.3}", e.relevance)}</td>
                </tr>
            }
        })
        .collect_view();
    let rows = lane
        .rows
        .iter()
        .rev()
        .take(8)
        .map(|r| {
            view! {
                <tr data-testid="train-row">
                    <td>{r.step}</td>
                    <td data-testid="train-loss">{format!("{:.4}", r.loss)}</td>
                    <td data-testid="train-margin">{format!("{:.4}", r.rewards_margins)}</td>
                    <td>{format!("{:.2}", r.rewards_accuracies)}</td>
                </tr>
            }
        })
        .collect_view();
    let weighted = lane.method.weighted();
    let pairs = lane
        .batch
        .iter()
        .map(|p| {
            let weight = if weighted { format!("w = {:.2}", p.weight) } else { "w = 1 (unweighted)".to_string() };
            view! {
                <li>
                    <p class="pair-prompt">{p.prompt.clone()}</p>
                    <p><span class="tag-chosen">"chosen"</span>" "{p.chosen.clone()}</p>
                    <p><span class="tag-rejected">"rejected"</span>" "{p.rejected.clone()}</p>
                    <p class="hint">{format!("{weight}; deviation of the chosen response {:.3}", p.deviation_chosen)}</p>
                </li>
            }
        })
        .collect_view();
    // The classroom view: the lane's formula with the first pair of the last step filled in.
    let formula = match (last.as_ref().and_then(|m| m.per_pair.first().copied()), lane.batch.first()) {
        (Some((rc, rr)), Some(p)) if !lane.method.odds_ratio() => {
            let w = if weighted { p.weight } else { 1.0 };
            let z = rc - rr;
            let term = w * (1.0 + (-z).exp()).ln(); // −w·log σ(z)
            format!(
                "L = −w · log σ(β[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))])\n  = −{w:.3} · log σ({rc:.4} − ({rr:.4}))  [β = {beta}]\n  = {term:.4} for this pair"
            )
        }
        (Some((rc, rr)), Some(p)) => {
            let w = if weighted { p.weight } else { 1.0 };
            format!(
                "L = mean(w)·NLL − λ · mean log σ(w[(m_w − m_l) − (log(1 − e^m_w) − log(1 − e^m_l))])\n  λ·m_w = {rc:.4}, λ·m_l = {rr:.4}, w = {w:.3}  [λ = {lambda}]"
            )
        }
        _ => "Take a step to see the formula with its numbers.".to_string(),
    };
    view! {
        <article class="lane" data-testid="lane" data-method=lane.method.name()>
            <h3>{name}</h3>
            <p class="hint">
                {format!("{} pairs", lane.pairs)}
                {(lane.millis > 0.0).then(|| format!("; last step {:.1} s", lane.millis / 1000.0))}
            </p>
            {lane.rejected.map(|why| view! { <p class="error" role="alert">{format!("Step rejected: {why}")}</p> })}
            {probe_view(&lane.probes, lane.probe_millis)}
            <svg class="spark" viewBox="0 0 120 40" role="img" aria-label="loss (solid) and reward margin (dashed) per step">
                <polyline class="spark-loss" points=sparkline(&losses)></polyline>
                <polyline class="spark-margin" points=sparkline(&margins)></polyline>
            </svg>
            <table class="metrics">
                <thead><tr><th scope="col">"step"</th><th scope="col">"loss"</th><th scope="col">"margin"</th><th scope="col">"accuracy"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <svg class="spark" viewBox="0 0 120 40" role="img"
                aria-label="semantic diversity (solid) and reference log-likelihood per token (dashed) per evaluation">
                <polyline class="spark-loss" points=sparkline(&diversity)></polyline>
                <polyline class="spark-margin" points=sparkline(&loglik)></polyline>
            </svg>
            <table class="metrics">
                <caption class="hint">
                    "Diversity and quality of held-out continuations"
                    {(lane.eval_millis > 0.0).then(|| format!(" (last scored in {:.1} s)", lane.eval_millis / 1000.0))}
                </caption>
                <thead>
                    <tr>
                        <th scope="col">"step"</th>
                        <th scope="col" title="mean pairwise cosine distance (MiniLM)">"semantic div."</th>
                        <th scope="col" title="mean pairwise token-Jaccard distance">"Jaccard div."</th>
                        <th scope="col" title="mean per-token log-likelihood under the base model">"ref. log-lik."</th>
                        <th scope="col" title="mean cosine of prompt and continuation">"relevance"</th>
                    </tr>
                </thead>
                <tbody>{evals}</tbody>
            </table>
            <pre class="formula" data-testid="formula">{formula}</pre>
            <details>
                <summary>"This step's pairs"</summary>
                <ol class="pairs">{pairs}</ol>
            </details>
        </article>
    }
}

/// The Training panel: method lanes side by side on the toy preference set, with Set up / Step /
/// Run N / Pause, live metrics, the batch's pairs and weights, and the formula with its numbers.
#[component]
pub fn TrainingPanel(
    view_state: Signal<TrainView>,
    /// The setup and steps per run, shared with the share link.
    setup: RwSignal<TrainSetup>,
    run_steps: RwSignal<usize>,
    /// The learner's rated continuations as a preference set (`None` until a prompt has two
    /// continuations rated differently).
    custom: Signal<Option<PreferenceSet>>,
    /// The page was opened for the lesson: its button takes the focus.
    lesson: bool,
    on_action: impl Fn(TrainAction) + 'static,
) -> impl IntoView {
    let initial = setup.get_untracked();
    let chosen = RwSignal::new(initial.methods.clone());
    let pairs_per_step = RwSignal::new(initial.pairs_per_step);
    let beta = RwSignal::new(initial.train.beta);
    let learning_rate = RwSignal::new(initial.train.learning_rate);
    let seed = RwSignal::new(initial.train.seed);
    let eval_every = RwSignal::new(initial.eval.every);
    let probe_every = RwSignal::new(initial.probe.every);
    let mine = RwSignal::new(initial.data.is_some());
    Effect::new(move |_| {
        let next = TrainSetup {
            methods: chosen.get(),
            pairs_per_step: pairs_per_step.get(),
            train: TrainConfig { beta: beta.get(), learning_rate: learning_rate.get(), seed: seed.get(), ..initial.train.clone() },
            eval: EvalSetup { every: eval_every.get(), ..initial.eval.clone() },
            probe: ProbeSetup { every: probe_every.get(), ..initial.probe.clone() },
            data: if mine.get() { custom.get() } else { None },
            ..initial.clone()
        };
        if setup.with_untracked(|s| *s != next) {
            setup.set(next);
        }
    });
    let on_action = std::rc::Rc::new(on_action);
    let busy = move || view_state.with(|v| v.busy);
    let ready = move || view_state.with(|v| v.id.is_some() && !v.lanes.is_empty());

    let checkboxes = Method::ALL
        .into_iter()
        .map(|method| {
            let (for_id, id, test_id) = (format!("train-{}", method.name()), format!("train-{}", method.name()), format!("train-{}", method.name()));
            view! {
                <label class="check" for=for_id>
                    <input
                        type="checkbox"
                        id=id
                        data-testid=test_id
                        prop:checked=move || chosen.with(|c| c.contains(&method))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            chosen.update(|c| {
                                c.retain(|m| *m != method);
                                if on {
                                    c.push(method);
                                    c.sort_by_key(|m| Method::ALL.iter().position(|x| x == m));
                                }
                            });
                        }
                    />
                    {method.name().to_uppercase()}
                </label>
            }
        })
        .collect_view();
    let number = |id: &'static str, label: &'static str, step: &'static str, get: Signal<String>, set: Box<dyn Fn(&str) -> bool>| {
        let invalid = RwSignal::new(false);
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id data-testid=id type="number" step=step prop:value=move || get.get()
                    aria-invalid=move || invalid.get().to_string()
                    on:change=move |ev| invalid.set(!set(&event_target_value(&ev))) />
            </div>
        }
    };
    let (set_up, step_once, run_many, pause) = (on_action.clone(), on_action.clone(), on_action.clone(), on_action.clone());
    let data_note = move || match (mine.get(), custom.with(|c| c.as_ref().map(|s| (s.train.len(), weights_all_equal(s))))) {
        (false, _) => "The toy set: 24 writing prompts with 6 scored responses each.".to_string(),
        (true, Some((n, false))) => format!("Your ratings: {n} prompt(s) with continuations rated differently; they become the pairs."),
        (true, Some((n, true))) => format!(
            "Your ratings: {n} prompt(s), each with two rated continuations. Two responses are always equally far from each other, \
             so every weight is 1 and DDPO trains exactly like DPO here. Rate three or more continuations of one prompt to make \
             their weights differ."
        ),
        (true, None) => "Rate at least two continuations of one prompt differently (Generate panel) to train on your ratings.".to_string(),
    };
    let can_set_up = move || !mine.get() || custom.with(|c| c.is_some());
    let lanes = move || {
        let (b, l) = (beta.get(), setup.with(|s| s.train.lambda));
        view_state.with(|v| v.lanes.clone()).into_iter().map(|lane| lane_view(lane, b, l)).collect_view()
    };

    let lesson_box = lesson_view(view_state, setup, run_steps, lesson, on_action);
    view! {
        <section class="panel wide" aria-labelledby="training-heading">
            <h2 id="training-heading">"Training"</h2>
            {lesson_box}
            <p class="hint">
                "LoRA (rank 8 on q and v) preference tuning of SmolLM2 on the toy set, one lane per method, same seed and data. "
                "DDPO and DORPO weight each pair by how much its chosen response deviates from the others."
            </p>
            <fieldset class="methods">
                <legend>"Methods"</legend>
                {checkboxes}
            </fieldset>
            <div class="field">
                <label for="train-data">"Train on"</label>
                <select id="train-data" data-testid="train-data" on:change=move |ev| mine.set(event_target_value(&ev) == "mine")>
                    <option value="toy" selected=move || !mine.get()>"the toy set"</option>
                    <option value="mine" selected=move || mine.get()>"my ratings"</option>
                </select>
                <p class="hint" data-testid="train-data-note">{data_note}</p>
            </div>
            <div class="controls">
                {number("train-pairs", "Pairs per step", "1", Signal::derive(move || pairs_per_step.get().to_string()),
                    Box::new(move |s| s.parse().ok().filter(|v| (1..=MAX_PAIRS_PER_STEP).contains(v)).map(|v| pairs_per_step.set(v)).is_some()))}
                {number("train-beta", "β", "0.05", Signal::derive(move || beta.get().to_string()),
                    Box::new(move |s| s.parse().ok().filter(|v: &f64| *v > 0.0 && v.is_finite()).map(|v| beta.set(v)).is_some()))}
                {number("train-lr", "Learning rate", "0.0001", Signal::derive(move || learning_rate.get().to_string()),
                    Box::new(move |s| s.parse().ok().filter(|v: &f64| *v > 0.0 && v.is_finite()).map(|v| learning_rate.set(v)).is_some()))}
                {number("train-seed", "Seed", "1", Signal::derive(move || seed.get().to_string()),
                    Box::new(move |s| s.parse().ok().map(|v| seed.set(v)).is_some()))}
                {number("train-eval", "Score diversity every N steps (0: never)", "1", Signal::derive(move || eval_every.get().to_string()),
                    Box::new(move |s| s.parse().ok().filter(|v| *v <= 100).map(|v| eval_every.set(v)).is_some()))}
                {number("train-probe", "Probe the mechanism every N steps (0: never)", "1", Signal::derive(move || probe_every.get().to_string()),
                    Box::new(move |s| s.parse().ok().filter(|v| *v <= MAX_RUN_STEPS).map(|v| probe_every.set(v)).is_some()))}
                {number("train-n", "Run N steps", "1", Signal::derive(move || run_steps.get().to_string()),
                    Box::new(move |s| s.parse().ok().filter(|v| (1..=MAX_RUN_STEPS).contains(v)).map(|v| run_steps.set(v)).is_some()))}
            </div>
            <div class="buttons">
                <button type="button" data-testid="train-setup" prop:disabled=move || busy() || !can_set_up()
                    on:click=move |_| set_up(TrainAction::SetUp(setup.get_untracked()))>
                    {move || if ready() { "Reset" } else { "Set up" }}
                </button>
                <button type="button" data-testid="train-step" prop:disabled=move || busy() || !ready() on:click=move |_| step_once(TrainAction::Run(1))>"Step"</button>
                <button type="button" data-testid="train-run" prop:disabled=move || busy() || !ready() on:click=move |_| run_many(TrainAction::Run(run_steps.get_untracked()))>
                    {move || format!("Run {}", run_steps.get())}
                </button>
                <button type="button" data-testid="train-pause" prop:disabled=move || !busy() on:click=move |_| pause(TrainAction::Pause)>"Pause"</button>
            </div>
            <p class="hint" role="status" aria-live="polite" data-testid="train-status">{move || view_state.with(|v| v.status.clone())}</p>
            {move || view_state.with(|v| v.progress).map(|(done, total)| view! {
                <progress max=total.to_string() value=done.to_string() aria-label="evaluation progress"></progress>
            })}
            <div class="lanes">{lanes}</div>
        </section>
    }
}

/// The one-click lesson: its button, what the charts mean, the DDPO − DPO slope line, and when
/// it is done, the before/after continuations.
fn lesson_view(
    view_state: Signal<TrainView>,
    setup: RwSignal<TrainSetup>,
    run_steps: RwSignal<usize>,
    focus: bool,
    on_action: std::rc::Rc<impl Fn(TrainAction) + 'static>,
) -> impl IntoView {
    let busy = move || view_state.with(|v| v.busy);
    // A lesson link sets its steps ("Run N steps"); elsewhere the lesson runs LESSON_STEPS and
    // the field (so the link) takes that number.
    let steps = move || if focus { run_steps.get() } else { LESSON_STEPS };
    let start = move |_| {
        let steps = if focus { run_steps.get_untracked() } else { LESSON_STEPS };
        run_steps.set(steps);
        on_action(TrainAction::Lesson(setup.get_untracked().lesson(steps), steps));
    };
    let difference = move || {
        view_state.with(|v| v.slope_difference()).map(|(step, diff)| {
            view! { <p class="diff" data-testid="slope-diff" data-diff=diff.to_string()>{format!("DDPO − DPO slope: {diff:+.2} (step {step})")}</p> }
        })
    };
    let done = move || view_state.with(|v| v.lesson.is_some_and(|l| l.phase == LessonPhase::Done));
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
    view! {
        <div class="lesson" data-testid="lesson">
            <p>
                "The lesson: DPO and DDPO train on the same pairs; DDPO weighs each pair by how unusual its chosen answer is. "
                "In each lane's chart a dot is a good training answer: further right is more unusual, higher is made more likely by training. "
                "If DDPO works as the paper says, its line tilts up more than DPO's."
            </p>
            <button type="button" id="lesson-run" data-testid="lesson-run" autofocus=focus prop:disabled=busy on:click=start>
                {move || format!("Run the lesson ({} steps of DPO and DDPO)", steps())}
            </button>
            {difference}
            {before_after}
        </div>
    }
}
