use leptos::prelude::*;

use crate::engine::learner::weights_all_equal;
use crate::engine::protocol::{MAX_RUN_STEPS, Method, PreferenceSet, SimilarityKind, TrainSetup, Weighting};
use crate::model::llama::Target;
use crate::page::settings::{self, Setting};
use crate::page::training::{LaneView, TrainView};

use super::checkbox::member_checkbox;
use super::probe::probe_view;

/// What the panel asks the app to send.
pub enum TrainAction {
    SetUp(TrainSetup),
    /// The one-click lesson: set up this setup, then run this many steps.
    Lesson(TrainSetup, usize),
    Run(usize),
    Pause,
    /// Download lane `.0`'s adapters.
    Download(usize),
    /// Load these adapter bytes (safetensors) into lane `.0`.
    Upload(usize, Vec<u8>),
    /// "Run this in TRL": download lane `.0`'s files for TRL.
    Trl(usize),
}

/// The largest adapters file the page reads: rank 64 on every projection is about 78 MB.
const MAX_ADAPTER_BYTES: f64 = 100e6;

/// A path of `values` in a 120×40 box, with a gap at each non-finite value.
fn sparkline(values: &[f64]) -> String {
    crate::page::chart::spark_path(values, 120.0, 40.0)
}

/// The lane's formula with the first pair of its last step filled in (the classroom view).
fn formula_text(lane: &LaneView, beta: f64, lambda: f64) -> String {
    let weighted = lane.method.weighted();
    let first = lane.rows.last().and_then(|m| m.per_pair.first().copied());
    match (first, lane.batch.first()) {
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
    }
}

/// The last 8 steps' loss, margin, accuracy and gradient norm, newest first, under their sparkline.
fn step_table(lane: &LaneView) -> impl IntoView + use<> {
    let losses: Vec<f64> = lane.rows.iter().map(|r| r.loss).collect();
    let margins: Vec<f64> = lane.rows.iter().map(|r| r.rewards_margins).collect();
    let row = |r: &crate::engine::train::StepMetrics| {
        view! {
            <tr data-testid="train-row">
                <td>{r.step}</td>
                <td data-testid="train-loss" data-value=r.loss.to_string()>{format!("{:.4}", r.loss)}</td>
                <td data-testid="train-margin" data-value=r.rewards_margins.to_string()>{format!("{:.4}", r.rewards_margins)}</td>
                <td>{format!("{:.2}", r.rewards_accuracies)}</td>
                <td data-testid="train-grad-norm" data-value=r.grad_norm.to_string()>{format!("{:.3}", r.grad_norm)}</td>
            </tr>
        }
    };
    let rows = lane.rows.iter().rev().take(8).map(row).collect_view();
    view! {
        <svg class="spark" viewBox="0 0 120 40" role="img" aria-label="loss (solid) and reward margin (dashed) per step">
            <path class="spark-loss" d=sparkline(&losses)></path>
            <path class="spark-margin" d=sparkline(&margins)></path>
        </svg>
        <table class="metrics">
            <thead><tr><th scope="col">"step"</th><th scope="col">"loss"</th><th scope="col">"margin"</th><th scope="col">"accuracy"</th><th scope="col" title="the global norm of the adapters' gradient before clipping to 1 (TRL's grad_norm)">"grad norm"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// Every evaluation's diversity and quality, newest first, under their sparkline.
fn eval_table(lane: &LaneView) -> impl IntoView + use<> {
    let diversity: Vec<f64> = lane.evals.iter().map(|e| e.semantic_diversity).collect();
    let loglik: Vec<f64> = lane.evals.iter().map(|e| e.reference_loglik).collect();
    let row = |e: &crate::engine::experiment::EvalPoint| {
        view! {
            <tr data-testid="eval-row">
                <td>{e.step}</td>
                <td data-testid="eval-semantic">{format!("{:.3}", e.semantic_diversity)}</td>
                <td>{format!("{:.3}", e.jaccard_diversity)}</td>
                <td data-testid="eval-loglik">{format!("{:.2}", e.reference_loglik)}</td>
                <td>{format!("{:.3}", e.relevance)}</td>
            </tr>
        }
    };
    let rows = lane.evals.iter().rev().map(row).collect_view();
    let timing = (lane.eval_millis > 0.0).then(|| format!(" (last scored in {:.1} s)", lane.eval_millis / 1000.0));
    view! {
        <svg class="spark" viewBox="0 0 120 40" role="img"
            aria-label="semantic diversity (solid) and reference log-likelihood per token (dashed) per evaluation">
            <path class="spark-loss" d=sparkline(&diversity)></path>
            <path class="spark-margin" d=sparkline(&loglik)></path>
        </svg>
        <table class="metrics">
            <caption class="hint">"Diversity and quality of held-out continuations"{timing}</caption>
            <thead>
                <tr>
                    <th scope="col">"step"</th>
                    <th scope="col" title="mean pairwise cosine distance (MiniLM)">"semantic div."</th>
                    <th scope="col" title="mean pairwise token-Jaccard distance">"Jaccard div."</th>
                    <th scope="col" title="mean per-token log-likelihood under the base model">"ref. log-lik."</th>
                    <th scope="col" title="mean cosine of prompt and continuation">"relevance"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// The last step's pairs with their weights.
fn pair_list(lane: &LaneView) -> impl IntoView + use<> {
    let weighted = lane.method.weighted();
    let pair = |p: &crate::engine::protocol::PairView| {
        let weight = if weighted { format!("w = {:.2}", p.weight) } else { "w = 1 (unweighted)".to_string() };
        view! {
            <li>
                <p class="pair-prompt">{p.prompt.clone()}</p>
                <p><span class="tag-chosen">"chosen"</span>" "{p.chosen.clone()}</p>
                <p><span class="tag-rejected">"rejected"</span>" "{p.rejected.clone()}</p>
                <p class="hint">{format!("{weight}; deviation of the chosen response {:.3}", p.deviation_chosen)}</p>
            </li>
        }
    };
    view! {
        <details>
            <summary>"This step's pairs"</summary>
            <ol class="pairs">{lane.batch.iter().map(pair).collect_view()}</ol>
        </details>
    }
}

/// Download and load a lane's adapters (safetensors, as `deviate train --save/--load`), and
/// download its files for TRL.
fn adapter_buttons(index: usize, method: Method, idle: bool, on_action: std::rc::Rc<dyn Fn(TrainAction)>) -> impl IntoView {
    let (download, upload, trl) = (on_action.clone(), on_action.clone(), on_action);
    let input_id = format!("adapters-{}", method.name());
    let refused = RwSignal::new(None::<String>);
    let read = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let file = input.files().and_then(|f| f.get(0));
        input.set_value("");
        let Some(file) = file else { return };
        if file.size() > MAX_ADAPTER_BYTES {
            refused.set(Some(format!("{} is {:.0} MB: adapters are at most 100 MB.", file.name(), file.size() / 1e6)));
            return;
        }
        refused.set(None);
        let upload = upload.clone();
        leptos::task::spawn_local(async move {
            match gloo_file::futures::read_as_bytes(&gloo_file::File::from(file)).await {
                Ok(bytes) => upload(TrainAction::Upload(index, bytes)),
                Err(error) => refused.set(Some(format!("the file could not be read: {error}"))),
            }
        });
    };
    view! {
        <div class="buttons">
            <button type="button" data-testid="adapters-download" prop:disabled=!idle
                on:click=move |_| download(TrainAction::Download(index))>"Download adapters"</button>
            <button type="button" data-testid="trl-export" prop:disabled=!idle
                title="A zip with this lane's pairs, its set-up for examples/trl_ddpo.py and the commands (accelerate, one GPU or many)"
                on:click=move |_| trl(TrainAction::Trl(index))>"Run this in TRL"</button>
            <label class="file" for=input_id.clone()>"Load adapters…"</label>
            <input type="file" id=input_id data-testid="adapters-load" accept=".safetensors,application/octet-stream"
                prop:disabled=!idle on:change=read />
        </div>
        <p class="error" role="alert">{move || refused.get()}</p>
    }
}

fn lane_view(index: usize, lane: LaneView, beta: f64, lambda: f64, idle: bool, on_action: std::rc::Rc<dyn Fn(TrainAction)>) -> impl IntoView {
    let timing = (lane.millis > 0.0).then(|| format!("; last step {:.1} s", lane.millis / 1000.0));
    view! {
        <article class="lane" data-testid="lane" data-method=lane.method.name()>
            <h3>{lane.method.name().to_uppercase()}</h3>
            <p class="hint">{format!("{} pairs", lane.pairs)}{timing}</p>
            {lane.rejected.clone().map(|why| view! { <p class="error" role="alert">{why}</p> })}
            {probe_view(&lane.probes, lane.probe_millis)}
            {step_table(&lane)}
            {eval_table(&lane)}
            <pre class="formula" data-testid="formula">{formula_text(&lane, beta, lambda)}</pre>
            {pair_list(&lane)}
            {adapter_buttons(index, lane.method, idle, on_action)}
            <p class="hint" data-testid="adapters-note" aria-live="polite">{lane.adapters.clone()}</p>
        </article>
    }
}

/// The methods and the data the learner picks; [`Fields::follow`] puts them into `setup` (and
/// so the share link). Every other setting edits `setup` itself ([`setting_field`]).
#[derive(Clone, Copy)]
struct Fields {
    chosen: RwSignal<Vec<Method>>,
    /// What to train on.
    source: RwSignal<Source>,
}

/// The training data: the toy set, the learner's ratings (or a link's data), or the class's
/// pooled ratings.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    Toy,
    Mine,
    Class,
}

/// The custom sets a learner can train on.
#[derive(Clone, Copy)]
pub struct Sets {
    /// The learner's rated continuations (or a link's data).
    pub mine: Signal<Option<PreferenceSet>>,
    /// The class's pooled ratings.
    pub class: Signal<Option<PreferenceSet>>,
}

impl Sets {
    fn of(self, source: Source) -> Option<PreferenceSet> {
        match source {
            Source::Toy => None,
            Source::Mine => self.mine.get(),
            Source::Class => self.class.get(),
        }
    }
}

impl Fields {
    fn new(initial: &TrainSetup) -> Self {
        let source = if initial.data.is_some() { Source::Mine } else { Source::Toy };
        Self { chosen: RwSignal::new(initial.methods.clone()), source: RwSignal::new(source) }
    }

    fn follow(self, setup: RwSignal<TrainSetup>, sets: Sets) {
        Effect::new(move |_| {
            let methods = self.chosen.get();
            let data = sets.of(self.source.get());
            if setup.with_untracked(|s| s.methods != methods || s.data != data) {
                setup.update(|s| {
                    s.methods = methods;
                    s.data = data;
                });
            }
        });
    }

    fn method_checkboxes(self) -> impl IntoView {
        let chosen = self.chosen;
        let checkbox = move |method: Method| {
            member_checkbox(format!("train-{}", method.name()), method.name().to_uppercase(), chosen, method, &Method::ALL)
        };
        view! {
            <fieldset class="methods">
                <legend>"Methods"</legend>
                {Method::ALL.into_iter().map(checkbox).collect_view()}
            </fieldset>
        }
    }

    fn data_choice(self, sets: Sets) -> impl IntoView {
        let source = self.source;
        let pick = move |value: String| {
            source.set(match value.as_str() {
                "mine" => Source::Mine,
                "class" => Source::Class,
                _ => Source::Toy,
            })
        };
        view! {
            <div class="field">
                <label for="train-data">"Train on"</label>
                <select id="train-data" data-testid="train-data" on:change=move |ev| pick(event_target_value(&ev))>
                    <option value="toy" selected=move || source.get() == Source::Toy>"the toy set"</option>
                    <option value="mine" selected=move || source.get() == Source::Mine>"my ratings"</option>
                    <option value="class" selected=move || source.get() == Source::Class>"the class's ratings"</option>
                </select>
                <p class="hint" data-testid="train-data-note">{move || data_note(source.get(), sets)}</p>
            </div>
        }
    }
}

/// Puts `next` into `setup` when it passes the link's checks; says why not otherwise.
fn offer(setup: RwSignal<TrainSetup>, next: Result<TrainSetup, String>, error: RwSignal<Option<String>>) {
    match next.and_then(|n| n.check().map(|()| n)) {
        Ok(next) => {
            error.set(None);
            if setup.with_untracked(|s| *s != next) {
                setup.set(next);
            }
        }
        Err(why) => error.set(Some(why)),
    }
}

/// A field's explanation and, while its value is refused, the reason (announced).
fn field_notes(id: &'static str, hint: &'static str, error: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <p class="hint" id=format!("{id}-hint")>{hint}</p>
        <p class="error" id=format!("{id}-error") data-testid=format!("{id}-error") role="alert">{move || error.get()}</p>
    }
}

/// One labelled number of the set-up; a refused value stays in the field, marked, and is not
/// used (the set-up keeps its last valid value).
fn setting_field(setting: &'static Setting, setup: RwSignal<TrainSetup>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let id = setting.id;
    view! {
        <div class="field">
            <label for=id>{setting.label}</label>
            <input id=id data-testid=id type="number" step=setting.step
                prop:value=move || setup.with(|s| (setting.get)(s))
                aria-describedby=format!("{id}-hint {id}-error")
                aria-invalid=move || error.with(Option::is_some).to_string()
                on:change=move |ev| offer(setup, setting.apply(&setup.get_untracked(), &event_target_value(&ev)), error) />
            {field_notes(id, setting.hint, error)}
        </div>
    }
}

fn setting_fields(ids: &[&str], setup: RwSignal<TrainSetup>) -> impl IntoView + use<> {
    ids.iter().filter_map(|id| settings::setting(id)).map(|s| setting_field(s, setup)).collect_view()
}

/// Which projections LoRA adapts (at least one).
fn lora_targets(setup: RwSignal<TrainSetup>) -> impl IntoView {
    let targets = RwSignal::new(setup.get_untracked().train.lora.targets);
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let mut next = setup.get_untracked();
        next.train.lora.targets = targets.get();
        offer(setup, Ok(next), error);
    });
    let checkbox = move |t: Target| member_checkbox(format!("train-target-{}", t.name()), t.name().to_string(), targets, t, &Target::ALL);
    view! {
        <fieldset class="methods" aria-describedby="train-targets-hint train-targets-error">
            <legend>"LoRA targets"</legend>
            {Target::ALL.into_iter().map(checkbox).collect_view()}
            {field_notes("train-targets", "The projections of every block that get an adapter (the paper: q and v).", error)}
        </fieldset>
    }
}

/// Which similarity the training weights come from.
fn weight_similarity(setup: RwSignal<TrainSetup>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let choose = move |ev: leptos::ev::Event| {
        let next = event_target_value(&ev).parse::<SimilarityKind>().map(|kind| {
            let mut next = setup.get_untracked();
            next.weighting.similarity = kind;
            next
        });
        offer(setup, next, error);
    };
    let option = move |kind: SimilarityKind| {
        view! { <option value=kind.name() selected=move || setup.with(|s| s.weighting.similarity == kind)>{kind.name()}</option> }
    };
    view! {
        <div class="field">
            <label for="train-similarity">"Weights from"</label>
            <select id="train-similarity" data-testid="train-similarity" aria-describedby="train-similarity-hint train-similarity-error"
                on:change=choose>
                {Weighting::KINDS.into_iter().map(option).collect_view()}
            </select>
            {field_notes("train-similarity", "The similarity the deviations, so DDPO's and DORPO's weights, come from: meaning, style or both (the paper's variants).", error)}
        </div>
    }
}

/// The fields: the common ones, then the rest behind "More settings".
fn settings_view(setup: RwSignal<TrainSetup>, run_steps: RwSignal<usize>) -> impl IntoView {
    const COMMON: [&str; 6] = ["train-pairs", "train-beta", "train-lr", "train-seed", "train-eval", "train-probe"];
    const LORA: [&str; 3] = ["train-lambda", "train-rank", "train-alpha"];
    const PAIRS: [&str; 2] = ["train-gap", "train-min-weight"];
    const EVAL: [&str; 3] = ["train-eval-prompts", "train-eval-samples", "train-eval-tokens"];
    view! {
        <div class="controls">
            {setting_fields(&COMMON, setup)}
            {number("train-n", "Run N steps", "1", Signal::derive(move || run_steps.get().to_string()),
                Box::new(move |s| s.parse().ok().filter(|v| (1..=MAX_RUN_STEPS).contains(v)).map(|v| run_steps.set(v)).is_some()))}
        </div>
        <details class="more" data-testid="train-more">
            <summary>"More settings: λ, LoRA, pairs and weights, evaluation"</summary>
            <div class="controls">
                {setting_fields(&LORA, setup)}
                {lora_targets(setup)}
                {setting_fields(&PAIRS, setup)}
                {weight_similarity(setup)}
                {setting_fields(&EVAL, setup)}
            </div>
        </details>
    }
}

/// One labelled number field; `set` takes the field's text and says whether it was valid.
fn number(id: &'static str, label: &'static str, step: &'static str, get: Signal<String>, set: Box<dyn Fn(&str) -> bool>) -> impl IntoView {
    let invalid = RwSignal::new(false);
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input id=id data-testid=id type="number" step=step prop:value=move || get.get()
                aria-invalid=move || invalid.get().to_string()
                on:change=move |ev| invalid.set(!set(&event_target_value(&ev))) />
        </div>
    }
}

/// "LoRA (rank 8 on q and v) preference tuning …" for the set-up's LoRA.
fn lora_summary(setup: &TrainSetup) -> String {
    let targets: Vec<&str> = setup.train.lora.targets.iter().map(|t| t.name()).collect();
    format!(
        "LoRA (rank {} on {}) preference tuning of SmolLM2, one lane per method, same seed and data. ",
        setup.train.lora.rank,
        targets.join(", ")
    )
}

/// What the chosen training data is, and why DDPO = DPO on two ratings per prompt.
fn data_note(source: Source, sets: Sets) -> String {
    if source == Source::Class {
        return match sets.class.with(|c| c.as_ref().map(|s| s.train.len())) {
            Some(n) => format!("The class's ratings: {n} prompt(s) pooled (Class ratings)."),
            None => "Pool the class's ratings links first (Class ratings panel).".into(),
        };
    }
    match (source == Source::Mine, sets.mine.with(|c| c.as_ref().map(|s| (s.train.len(), weights_all_equal(s))))) {
        (false, _) => "The toy set: 24 writing prompts with 6 scored responses each.".to_string(),
        (true, Some((n, false))) => format!("Your ratings: {n} prompt(s) with continuations rated differently; they become the pairs."),
        (true, Some((n, true))) => format!(
            "Your ratings: {n} prompt(s), each with two rated continuations. Two responses are always equally far from each other, \
             so every weight is 1 and DDPO trains exactly like DPO here. Rate three or more continuations of one prompt to make \
             their weights differ."
        ),
        (true, None) => "Rate at least two continuations of one prompt differently (Generate panel) to train on your ratings.".to_string(),
    }
}

/// Set up (or Reset), Step, Run N and Pause.
fn buttons(
    view_state: Signal<TrainView>,
    setup: RwSignal<TrainSetup>,
    run_steps: RwSignal<usize>,
    can_set_up: impl Fn() -> bool + Send + Sync + 'static,
    on_action: std::rc::Rc<dyn Fn(TrainAction)>,
) -> impl IntoView {
    let busy = move || view_state.with(|v| v.busy);
    let ready = move || view_state.with(|v| v.id.is_some() && !v.lanes.is_empty());
    let (set_up, step_once, run_many, pause) = (on_action.clone(), on_action.clone(), on_action.clone(), on_action);
    view! {
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
    /// The learner's and the class's rated continuations as preference sets (`None` until a
    /// prompt has two continuations rated differently).
    sets: Sets,
    on_action: impl Fn(TrainAction) + 'static,
) -> impl IntoView {
    let fields = Fields::new(&setup.get_untracked());
    fields.follow(setup, sets);
    let on_action: std::rc::Rc<dyn Fn(TrainAction)> = std::rc::Rc::new(on_action);
    let source = fields.source;
    let can_set_up = move || match source.get() {
        Source::Toy => true,
        Source::Mine => sets.mine.with(Option::is_some),
        Source::Class => sets.class.with(Option::is_some),
    };
    let lane_action = StoredValue::new_local(on_action.clone());
    let lanes = move || {
        let (b, l) = setup.with(|s| (s.train.beta, s.train.lambda));
        let idle = view_state.with(|v| !v.busy);
        let lanes = view_state.with(|v| v.lanes.clone()).into_iter().enumerate();
        lanes.map(|(i, lane)| lane_view(i, lane, b, l, idle, lane_action.get_value())).collect_view()
    };
    view! {
        <section class="panel wide" aria-labelledby="training-heading">
            <h2 id="training-heading">"Training"</h2>
            <p class="hint">
                {move || setup.with(lora_summary)}
                "DDPO and DORPO weight each pair by how much its chosen response deviates from the others."
            </p>
            {fields.method_checkboxes()}
            {fields.data_choice(sets)}
            {settings_view(setup, run_steps)}
            {buttons(view_state, setup, run_steps, can_set_up, on_action)}
            <p class="hint" role="status" aria-live="polite" data-testid="train-status">{move || view_state.with(|v| v.status.clone())}</p>
            {move || view_state.with(|v| v.progress).map(|(done, total)| view! {
                <progress max=total.to_string() value=done.to_string() aria-label="evaluation progress"></progress>
            })}
            <div class="lanes">{lanes}</div>
        </section>
    }
}
