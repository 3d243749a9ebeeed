//! The Training panel's state and how the worker's events change it: plain Rust, no web-sys,
//! tested natively. The one-click lesson is a small state machine here: set up, then run its
//! steps, then show the before/after view.

use crate::engine::learner::LaneSummary;
use crate::engine::protocol::{EvalPoint, Event, Method, PairView, ProbePoint, StepMetrics};

/// One method's lane as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LaneView {
    pub method: Method,
    pub pairs: usize,
    pub rows: Vec<StepMetrics>,
    pub batch: Vec<PairView>,
    pub rejected: Option<String>,
    pub millis: f64,
    /// Diversity and quality, from step 0 (the base model) on.
    pub evals: Vec<EvalPoint>,
    pub eval_millis: f64,
    /// Mechanism probes, from step 0 (the base model) on.
    pub probes: Vec<ProbePoint>,
    pub probe_millis: f64,
    /// What happened to the lane's adapters last (downloaded, loaded).
    pub adapters: Option<String>,
}

impl LaneView {
    pub fn new(method: Method, pairs: usize) -> Self {
        Self {
            method,
            pairs,
            rows: Vec::new(),
            batch: Vec::new(),
            rejected: None,
            millis: 0.0,
            evals: Vec::new(),
            eval_millis: 0.0,
            probes: Vec::new(),
            probe_millis: 0.0,
            adapters: None,
        }
    }

    fn name(&self) -> String {
        self.method.name().to_uppercase()
    }
}

/// Where the one-click lesson is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LessonPhase {
    SettingUp,
    /// Running since `started` (ms on the page's clock).
    Running { started: f64 },
    Done,
}

/// The one-click lesson: `steps` steps of DPO and DDPO with probes, then the before/after view.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lesson {
    pub steps: usize,
    pub phase: LessonPhase,
}

/// What the app must do after an event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Followup {
    /// Keep a run of `steps` steps per lane in the learner's history.
    Record { steps: usize },
    /// Ask the worker for `steps` more steps.
    Run { steps: usize },
}

/// The training session the page shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainView {
    pub id: Option<u64>,
    pub lanes: Vec<LaneView>,
    /// A request is in flight (set-up or steps).
    pub busy: bool,
    pub status: String,
    /// Prompts scored of the evaluation in progress.
    pub progress: Option<(usize, usize)>,
    pub lesson: Option<Lesson>,
}

/// "about 40 s" / "about 3 min".
pub fn duration_words(seconds: f64) -> String {
    if seconds < 90.0 { format!("about {:.0} s", seconds.max(1.0)) } else { format!("about {:.0} min", seconds / 60.0) }
}

impl TrainView {
    /// A session being set up (`lesson`: the lesson's steps, for the one-click lesson).
    pub fn setting_up(id: u64, lesson: Option<usize>) -> Self {
        Self {
            id: Some(id),
            busy: true,
            status: "Setting up: loading the models and embedding the toy set…".into(),
            lesson: lesson.map(|steps| Lesson { steps, phase: LessonPhase::SettingUp }),
            ..Self::default()
        }
    }

    /// Steps were asked for.
    pub fn running(&mut self, steps: usize) {
        self.busy = true;
        self.status = format!("Running {steps} step(s)…");
    }

    fn lane_name(&self, lane: Option<usize>) -> String {
        lane.and_then(|i| self.lanes.get(i)).map_or("the base model".to_string(), LaneView::name)
    }

    /// The change `event` makes; events of other sessions are ignored. `now` is the page's
    /// clock in ms (for the lesson's time estimate).
    pub fn apply(&mut self, event: &Event, now: f64) -> Option<Followup> {
        match event {
            Event::TrainReady { id, methods, pairs } if self.id == Some(*id) => {
                self.lanes = methods.iter().zip(pairs).map(|(&m, &p)| LaneView::new(m, p)).collect();
                self.status = "Lanes ready.".into();
            }
            Event::TrainEvaluating { id, lane, done, total } if self.id == Some(*id) => {
                let name = self.lane_name(*lane);
                self.status = format!("Scoring {name} for diversity and quality: prompt {} of {total}…", done + 1);
                self.progress = Some((*done, *total));
            }
            Event::TrainEval { id, lane, point, millis } if self.id == Some(*id) => {
                self.progress = None;
                self.each_lane(*lane, |l| {
                    l.evals.push(point.clone());
                    l.eval_millis = *millis;
                });
            }
            Event::TrainProbing { id, lane } if self.id == Some(*id) => {
                let name = self.lane_name(*lane);
                self.status = format!("Probing {name}: how the likelihood of the good training responses moved…");
            }
            Event::TrainProbe { id, lane, point, millis } if self.id == Some(*id) => {
                self.each_lane(*lane, |l| {
                    l.probes.push(point.clone());
                    l.probe_millis = *millis;
                });
            }
            Event::TrainStep { id, lane, metrics, batch, millis } if self.id == Some(*id) => {
                let l = self.lanes.get_mut(*lane)?;
                l.rows.push(metrics.clone());
                l.batch = batch.clone();
                l.rejected = None;
                l.millis = *millis;
                self.status = format!("{} step {}: loss {:.4}", self.lane_name(Some(*lane)), metrics.step, metrics.loss);
                if let Some(eta) = self.lesson_progress(*lane, metrics.step, now) {
                    self.status = eta;
                }
            }
            Event::TrainRejected { id, lane, step, reason } if self.id == Some(*id) => {
                let l = self.lanes.get_mut(*lane)?;
                l.rejected = Some(format!("Step {step} rejected: {reason}"));
                self.status = format!("{} step {step} rejected", self.lane_name(Some(*lane)));
                if let Some(eta) = self.lesson_progress(*lane, *step, now) {
                    self.status = eta;
                }
            }
            Event::TrainIdle { id, steps, paused, memory_bytes } if self.id == Some(*id) => return self.idle(*steps, *paused, *memory_bytes, now),
            Event::TrainAdapters { id, lane, steps, .. } if self.id == Some(*id) => {
                if let Some(l) = self.lanes.get_mut(*lane) {
                    l.adapters = Some(format!("Adapters after step {steps} downloaded (safetensors, for `deviate train --load`)."));
                }
            }
            Event::TrainTrl { id, lane, adapters, .. } if self.id == Some(*id) => {
                let with = if *adapters { "its adapters, " } else { "" };
                self.status = format!("{} for TRL downloaded: pairs, {with}lane.json and a README with the commands.", self.lane_name(Some(*lane)));
            }
            Event::TrainImported { id, lane, bytes } if self.id == Some(*id) => {
                if let Some(l) = self.lanes.get_mut(*lane) {
                    l.adapters = Some(format!("Adapters loaded ({:.1} MB); the next step trains from them, its optimiser afresh.", *bytes as f64 / 1e6));
                }
            }
            Event::Error { id: Some(id), message } if self.id == Some(*id) => {
                self.busy = false;
                self.progress = None;
                self.status = format!("Error: {message}");
                if let Some(lesson) = &mut self.lesson {
                    lesson.phase = LessonPhase::Done;
                }
            }
            _ => {}
        }
        None
    }

    /// Applies `f` to lane `lane`, or to every lane for the base model (`None`: every lane's step 0).
    fn each_lane(&mut self, lane: Option<usize>, mut f: impl FnMut(&mut LaneView)) {
        match lane {
            None => self.lanes.iter_mut().for_each(f),
            Some(i) => {
                if let Some(l) = self.lanes.get_mut(i) {
                    f(l)
                }
            }
        }
    }

    fn idle(&mut self, steps: usize, paused: bool, memory_bytes: f64, now: f64) -> Option<Followup> {
        self.busy = false;
        self.progress = None;
        let how = match (steps, paused) {
            (0, false) => "Ready: press Step or Run".to_string(),
            (_, true) => format!("Paused after {steps} steps per lane"),
            _ => format!("{steps} steps per lane done"),
        };
        self.status = format!("{how}; worker memory {:.0} MB.", memory_bytes / 1e6);
        if let Some(lesson) = self.lesson.as_mut() {
            match lesson.phase {
                LessonPhase::SettingUp if steps == 0 && !paused => {
                    lesson.phase = LessonPhase::Running { started: now };
                    self.busy = true;
                    self.status = format!("Lesson: set up; running {} steps of each lane…", lesson.steps);
                    return Some(Followup::Run { steps: lesson.steps });
                }
                LessonPhase::Running { .. } => {
                    lesson.phase = LessonPhase::Done;
                    if !paused && steps >= lesson.steps {
                        self.status = format!("Lesson done: {steps} steps per lane; worker memory {:.0} MB.", memory_bytes / 1e6);
                    }
                }
                _ => {}
            }
        }
        (steps > 0).then_some(Followup::Record { steps })
    }

    /// The lesson's progress line after lane `lane` finished step `step`, with the time left
    /// from the mean time per lane-step so far (probes and evaluations included).
    fn lesson_progress(&self, lane: usize, step: usize, now: f64) -> Option<String> {
        let lesson = self.lesson?;
        let LessonPhase::Running { started } = lesson.phase else { return None };
        let lanes = self.lanes.len().max(1);
        let done = (step - 1) * lanes + lane + 1;
        let left = (lesson.steps * lanes).saturating_sub(done);
        let per = (now - started) / 1000.0 / done as f64;
        let rest = if left == 0 { "probing and scoring the result…".to_string() } else { format!("{} left.", duration_words(per * left as f64)) };
        Some(format!("Lesson: {} step {step} of {} done; {rest}", self.lane_name(Some(lane)), lesson.steps))
    }

    /// The lanes' last numbers, for the learner's run history.
    pub fn summaries(&self) -> Vec<LaneSummary> {
        self.lanes
            .iter()
            .filter_map(|l| {
                let last = l.rows.last()?;
                let eval = l.evals.last().map(|e| EvalPoint { texts: Vec::new(), ..e.clone() });
                Some(LaneSummary { method: l.method, loss: last.loss, margin: last.rewards_margins, accuracy: last.rewards_accuracies, eval })
            })
            .collect()
    }

    fn lane(&self, method: Method) -> Option<&LaneView> {
        self.lanes.iter().find(|l| l.method == method)
    }

    /// DDPO's slope minus DPO's at the last step both were probed: (step, difference).
    pub fn slope_difference(&self) -> Option<(usize, f64)> {
        self.last_probes().map(|(dpo, ddpo)| (ddpo.step, ddpo.mechanism.slope - dpo.mechanism.slope))
    }

    /// DPO's and DDPO's probes at the last step both were probed.
    pub fn last_probes(&self) -> Option<(&ProbePoint, &ProbePoint)> {
        let (dpo, ddpo) = (self.lane(Method::Dpo)?, self.lane(Method::Ddpo)?);
        ddpo.probes.iter().rev().find_map(|b| dpo.probes.iter().find(|a| a.step == b.step).map(|a| (a, b)))
    }

    /// The before/after continuations of the first held-out prompt: the base model's, then each
    /// lane's at its last evaluation after step 0 (empty until there is one).
    pub fn before_after(&self) -> Vec<(String, Vec<String>)> {
        let Some(base) = self.lanes.first().and_then(|l| l.evals.first()).filter(|e| e.step == 0) else { return Vec::new() };
        let mut out = vec![("base model".to_string(), base.texts.clone())];
        for l in &self.lanes {
            if let Some(e) = l.evals.last().filter(|e| e.step > 0) {
                out.push((format!("{} after step {}", l.name(), e.step), e.texts.clone()));
            }
        }
        if out.len() == 1 { Vec::new() } else { out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mechanism::Mechanism;

    fn metrics(step: usize) -> StepMetrics {
        StepMetrics { step, loss: 0.69, rewards_chosen: 0.0, rewards_rejected: 0.0, rewards_margins: 0.0, rewards_accuracies: 0.0, grad_norm: 0.0, per_pair: Vec::new() }
    }

    fn probe(method: Option<Method>, step: usize, slope: f64) -> ProbePoint {
        ProbePoint { method, step, mechanism: Mechanism { slope, ..Mechanism::default() }, gains: Vec::new() }
    }

    fn eval(method: Option<Method>, step: usize, text: &str) -> EvalPoint {
        EvalPoint {
            method,
            step,
            semantic_diversity: 0.5,
            jaccard_diversity: 0.8,
            reference_loglik: -3.0,
            relevance: 0.3,
            texts: vec![text.into()],
        }
    }

    fn step(id: u64, lane: usize, n: usize) -> Event {
        Event::TrainStep { id, lane, metrics: metrics(n), batch: Vec::new(), millis: 10.0 }
    }

    #[test]
    fn the_lesson_sets_up_runs_its_steps_and_ends_on_the_before_after_view() {
        let mut view = TrainView::setting_up(7, Some(2));
        let ready = Event::TrainReady { id: 7, methods: vec![Method::Dpo, Method::Ddpo], pairs: vec![70, 70] };
        assert_eq!(view.apply(&ready, 0.0), None);
        view.apply(&Event::TrainProbing { id: 7, lane: None }, 0.0);
        assert!(view.status.starts_with("Probing the base model"));
        view.apply(&Event::TrainProbe { id: 7, lane: None, point: probe(None, 0, 0.0), millis: 5.0 }, 0.0);
        view.apply(&Event::TrainEval { id: 7, lane: None, point: eval(None, 0, "before"), millis: 5.0 }, 0.0);
        assert!(view.lanes.iter().all(|l| l.probes.len() == 1 && l.evals.len() == 1), "step 0 belongs to every lane");
        assert_eq!(view.slope_difference(), Some((0, 0.0)));
        assert!(view.before_after().is_empty(), "nothing trained yet");
        // Set up: the lesson asks for its steps at once.
        let idle = |steps| Event::TrainIdle { id: 7, steps, paused: false, memory_bytes: 5e8 };
        assert_eq!(view.apply(&idle(0), 1_000.0), Some(Followup::Run { steps: 2 }));
        assert!(view.busy);
        // One lane-step of four took 10 s: three are left, about 30 s.
        view.apply(&step(7, 0, 1), 11_000.0);
        assert_eq!(view.status, "Lesson: DPO step 1 of 2 done; about 30 s left.");
        view.apply(&step(7, 1, 1), 21_000.0);
        view.apply(&step(7, 0, 2), 31_000.0);
        view.apply(&step(7, 1, 2), 41_000.0);
        assert_eq!(view.status, "Lesson: DDPO step 2 of 2 done; probing and scoring the result…");
        for (lane, slope) in [(0, 0.1), (1, 0.35)] {
            let method = Some([Method::Dpo, Method::Ddpo][lane]);
            view.apply(&Event::TrainProbe { id: 7, lane: Some(lane), point: probe(method, 2, slope), millis: 5.0 }, 0.0);
            view.apply(&Event::TrainEval { id: 7, lane: Some(lane), point: eval(method, 2, "after"), millis: 5.0 }, 0.0);
        }
        let (at, diff) = view.slope_difference().unwrap();
        assert_eq!(at, 2);
        assert!((diff - 0.25).abs() < 1e-12);
        assert_eq!(view.apply(&idle(2), 50_000.0), Some(Followup::Record { steps: 2 }));
        assert_eq!(view.lesson.unwrap().phase, LessonPhase::Done);
        assert!(view.status.starts_with("Lesson done: 2 steps per lane"), "{}", view.status);
        let shown = view.before_after();
        assert_eq!(shown.iter().map(|(who, _)| who.as_str()).collect::<Vec<_>>(), ["base model", "DPO after step 2", "DDPO after step 2"]);
        assert_eq!(shown[2].1, ["after"]);
        assert!(view.summaries().iter().all(|s| s.eval.as_ref().is_some_and(|e| e.texts.is_empty())), "history keeps no texts");
    }

    #[test]
    fn other_sessions_and_unknown_lanes_change_nothing() {
        let mut view = TrainView::setting_up(3, None);
        view.apply(&Event::TrainReady { id: 3, methods: vec![Method::Dpo], pairs: vec![4] }, 0.0);
        let before = view.clone();
        for event in [
            step(2, 0, 1),
            step(3, 5, 1),
            Event::TrainProbe { id: 2, lane: None, point: probe(None, 0, 0.0), millis: 1.0 },
            Event::TrainIdle { id: 9, steps: 1, paused: false, memory_bytes: 0.0 },
            Event::Error { id: Some(4), message: "not ours".into() },
            Event::TrainRejected { id: 3, lane: 8, step: 1, reason: "no such lane".into() },
        ] {
            assert_eq!(view.apply(&event, 0.0), None);
        }
        assert_eq!(view, before);
        // Without a lesson, idle after steps records the run and asks for nothing else.
        assert_eq!(view.apply(&Event::TrainIdle { id: 3, steps: 0, paused: false, memory_bytes: 1e6 }, 0.0), None);
        assert_eq!(view.status, "Ready: press Step or Run; worker memory 1 MB.");
        assert_eq!(view.apply(&Event::TrainIdle { id: 3, steps: 4, paused: true, memory_bytes: 1e6 }, 0.0), Some(Followup::Record { steps: 4 }));
        assert!(view.status.starts_with("Paused after 4 steps"));
    }

    #[test]
    fn an_error_ends_the_lesson_and_frees_the_buttons() {
        let mut view = TrainView::setting_up(5, Some(6));
        view.apply(&Event::Error { id: Some(5), message: "out of memory".into() }, 0.0);
        assert!(!view.busy);
        assert_eq!(view.status, "Error: out of memory");
        assert_eq!(view.lesson.unwrap().phase, LessonPhase::Done);
        // A late idle of the same session does not restart it.
        assert_eq!(view.apply(&Event::TrainIdle { id: 5, steps: 0, paused: false, memory_bytes: 0.0 }, 0.0), None);
    }

    #[test]
    fn a_rejected_step_is_shown_until_the_next_one() {
        let mut view = TrainView::setting_up(1, None);
        view.apply(&Event::TrainReady { id: 1, methods: vec![Method::Ddpo], pairs: vec![4] }, 0.0);
        view.apply(&Event::TrainRejected { id: 1, lane: 0, step: 1, reason: "the loss is NaN".into() }, 0.0);
        assert_eq!(view.lanes[0].rejected.as_deref(), Some("Step 1 rejected: the loss is NaN"));
        assert_eq!(view.status, "DDPO step 1 rejected");
        view.apply(&step(1, 0, 2), 0.0);
        assert_eq!(view.lanes[0].rejected, None);
        assert_eq!(view.status, "DDPO step 2: loss 0.6900");
        assert_eq!(view.slope_difference(), None, "needs both DPO and DDPO");
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(duration_words(0.2), "about 1 s");
        assert_eq!(duration_words(45.0), "about 45 s");
        assert_eq!(duration_words(600.0), "about 10 min");
    }
}
