//! The one training loop: lanes (one LoRA policy per method) stepped together on the same
//! seeded batches, measured by a [`Schedule`]. `deviate experiment` runs it to the end; the
//! page's worker runs it a task at a time, so it can yield and pause between tasks. Neither
//! has its own copy of the schedule, so the two cannot differ.

use std::collections::VecDeque;

use crate::core::dataset::PreferenceSet;
use crate::engine::analysis::Analysis;
use crate::engine::embed::Embedder;
use crate::engine::experiment::{EvalPoint, ExperimentConfig, PlannedPair, PreparedPair, PromptScores, StepRecord, batch, evaluate_prompt, plan_pairs};
use crate::engine::generate::LanguageModel;
use crate::engine::probe::{self, Probe, ProbePoint};
use crate::engine::prompts::{ExperimentError, engine};
use crate::engine::train::{Method, PairTokens, ReferenceLogps, StepOutcome, TrainConfig, Trainer};
use crate::model::llama::Llama;

/// When a session measures its lanes. Step 0 (the base model) is probed and evaluated when
/// each is on; after that every `every` steps, and after the last step of a run whatever its
/// number, so a run always ends measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// 0 turns the mechanism probe off.
    pub probe_every: usize,
    /// 0 turns the evaluation off.
    pub eval_every: usize,
}

/// What is measured at one point of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub probe: bool,
    pub evaluate: bool,
}

impl Schedule {
    pub fn of(config: &ExperimentConfig) -> Self {
        Self { probe_every: config.probe_every, eval_every: config.eval_every }
    }

    /// Step 0: the base model, shared by every lane.
    pub fn at_start(self) -> Checkpoint {
        Checkpoint { probe: self.probe_every > 0, evaluate: self.eval_every > 0 }
    }

    /// After step `step` of a run whose last step is `last`.
    pub fn after(self, step: usize, last: usize) -> Checkpoint {
        let due = |every: usize| every > 0 && (step.is_multiple_of(every) || step == last);
        Checkpoint { probe: due(self.probe_every), evaluate: due(self.eval_every) }
    }
}

/// One method's policy and the pairs it trains on (weighed when a batch reaches them).
pub struct Lane {
    pub trainer: Trainer,
    plan: Vec<PlannedPair>,
}

impl Lane {
    /// How many pairs the lane trains on (a run longer than that starts over).
    pub fn pair_count(&self) -> usize {
        self.plan.len()
    }
}

/// The models and data a session works on, lent for each task.
#[derive(Clone, Copy)]
pub struct Models<'a> {
    pub lm: &'a LanguageModel,
    pub embedder: &'a Embedder,
    pub set: &'a PreferenceSet,
}

/// What a session reports; `lane` is `None` for the base model (step 0). Every step number is
/// the session's one count of steps run; a rejected step counts, and says so.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionEvent {
    Stepping { lane: usize, step: usize },
    /// A lane's step, applied or rejected, with the batch it was given.
    Step { lane: usize, step: usize, record: StepRecord, batch: Vec<PreparedPair> },
    Probing { lane: Option<usize> },
    Probe { lane: Option<usize>, point: ProbePoint },
    /// `done` of `total` held-out prompts scored.
    Evaluating { lane: Option<usize>, done: usize, total: usize },
    Eval { lane: Option<usize>, point: EvalPoint },
}

/// A unit of work: one lane's step, one probe, or one held-out prompt of an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    Train(usize),
    Probe(Option<usize>),
    Evaluate { lane: Option<usize>, prompt: usize },
}

/// A training session: its lanes, probe, schedule and the tasks still to do.
pub struct Session {
    config: ExperimentConfig,
    schedule: Schedule,
    probe: Option<Probe>,
    /// The training prompts analysed so far: those probed, and those a batch has reached.
    analysis: Analysis,
    lanes: Vec<Lane>,
    /// Steps run so far (every lane takes each step together).
    step: usize,
    /// The last step of the current run.
    last: usize,
    pending: VecDeque<Task>,
    /// The evaluation in progress, a prompt at a time.
    scores: Vec<PromptScores>,
}

impl Session {
    /// Prepares every method's pairs and policy and the probe, and queues step 0's
    /// measurements. `on_probing` hears when the (slow) probe set-up starts. Only the prompts
    /// the probe reads are analysed now (every prompt, for DivPO's pairs); a step analyses its
    /// batch's prompts when it first reaches them.
    pub async fn new(m: Models<'_>, config: &ExperimentConfig, on_probing: impl FnOnce()) -> Result<Self, ExperimentError> {
        if config.methods.is_empty() {
            return Err(ExperimentError::Config);
        }
        let mut analysis = Analysis::new(m.set, &config.weighting);
        let every = if config.methods.contains(&Method::Divpo) {
            analysis.cover_all(m.embedder, m.set).await?;
            Some(analysis.clone().into_all()?)
        } else {
            None
        };
        let reference = ReferenceLogps::default();
        let probe = match config.probe_every {
            0 => None,
            _ => {
                on_probing();
                let picked = probe::select(m.set, config.seed, config.probe_prompts);
                analysis.cover(m.embedder, m.set, picked.iter().map(|&(prompt, _)| prompt)).await?;
                let items = probe::items(m.lm, m.set, &analysis, &picked)?;
                let probe = Probe::new(m.lm.model(), items, m.lm.device()).await.map_err(engine)?;
                probe.lend_reference(&reference);
                Some(probe)
            }
        };
        let mut lanes = Vec::with_capacity(config.methods.len());
        for &method in &config.methods {
            let plan = plan_pairs(m.lm, m.set, every.as_deref(), method, config)?;
            let train = TrainConfig { seed: config.seed, ..config.train.clone() };
            let mut trainer = Trainer::new(m.lm.model(), method, train, m.lm.device());
            trainer.share_reference(&reference);
            lanes.push(Lane { trainer, plan });
        }
        let mut config = config.clone();
        config.eval_prompts = config.eval_prompts.min(m.set.heldout.len());
        let schedule = Schedule { eval_every: if config.eval_prompts == 0 { 0 } else { config.eval_every }, ..Schedule::of(&config) };
        let mut session = Self { config, schedule, probe, analysis, lanes, step: 0, last: 0, pending: VecDeque::new(), scores: Vec::new() };
        session.queue_checkpoint(schedule.at_start(), &[None]);
        Ok(session)
    }

    pub fn lanes(&self) -> &[Lane] {
        &self.lanes
    }

    pub fn lanes_mut(&mut self) -> &mut [Lane] {
        &mut self.lanes
    }

    /// Every pair of lane `lane`, weighed (the prompts no batch has reached yet are analysed now).
    pub async fn pairs(&mut self, m: Models<'_>, lane: usize) -> Result<Vec<PreparedPair>, ExperimentError> {
        self.analysis.cover_all(m.embedder, m.set).await?;
        let plan = &self.lanes.get(lane).ok_or_else(|| ExperimentError::Engine(format!("no lane {lane}")))?.plan;
        self.weigh(plan)
    }

    /// `planned` with their prompts' weights (every prompt among them analysed).
    fn weigh(&self, planned: &[PlannedPair]) -> Result<Vec<PreparedPair>, ExperimentError> {
        planned.iter().map(|p| Ok(p.weigh(self.analysis.prompt(p.prompt)?))).collect()
    }

    /// How many training prompts are analysed so far.
    pub fn analysed_prompts(&self) -> usize {
        self.analysis.analysed()
    }

    /// Steps run so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// Whether nothing is left to do.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether the session stands between two steps (or is idle): where a pause may stop it
    /// without leaving a step or a measurement half done.
    pub fn between_steps(&self) -> bool {
        matches!(self.pending.front(), None | Some(Task::Train(0)))
    }

    /// Makes the current run end `steps` steps from now, after the measurements already
    /// queued; a run that paused between steps goes on from the step it stopped before.
    pub fn run(&mut self, steps: usize) {
        self.last = self.step + steps;
        let queued = self.pending.iter().any(|t| matches!(t, Task::Train(_)));
        if steps > 0 && !queued {
            self.queue_step();
        }
    }

    /// Does the next task and reports it to `on_event`.
    pub async fn advance(&mut self, m: Models<'_>, on_event: &mut impl FnMut(SessionEvent)) -> Result<(), ExperimentError> {
        let Some(task) = self.pending.pop_front() else { return Ok(()) };
        match task {
            Task::Train(lane) => self.train(m, lane, on_event).await,
            Task::Probe(lane) => self.probe(m, lane, on_event).await,
            Task::Evaluate { lane, prompt } => self.evaluate(m, lane, prompt, on_event).await,
        }
    }

    fn queue_step(&mut self) {
        self.pending.extend((0..self.lanes.len()).map(Task::Train));
    }

    /// Probes every lane in `lanes`, then evaluates each, as `checkpoint` says.
    fn queue_checkpoint(&mut self, checkpoint: Checkpoint, lanes: &[Option<usize>]) {
        if checkpoint.probe {
            self.pending.extend(lanes.iter().map(|&lane| Task::Probe(lane)));
        }
        if checkpoint.evaluate {
            self.pending.extend(lanes.iter().map(|&lane| Task::Evaluate { lane, prompt: 0 }));
        }
    }

    async fn train(&mut self, m: Models<'_>, lane: usize, on_event: &mut impl FnMut(SessionEvent)) -> Result<(), ExperimentError> {
        let step = self.step + 1;
        on_event(SessionEvent::Stepping { lane, step });
        let planned = batch(&self.lanes[lane].plan, step, self.config.pairs_per_step);
        self.analysis.cover(m.embedder, m.set, planned.iter().map(|p| p.prompt)).await?;
        let chosen = self.weigh(&planned)?;
        let tokens: Vec<PairTokens> = chosen.iter().map(|p| p.tokens.clone()).collect();
        let l = &mut self.lanes[lane];
        let method = l.trainer.method();
        let record = match l.trainer.step(&tokens).await.map_err(engine)? {
            StepOutcome::Applied(mut metrics) => {
                metrics.step = step;
                StepRecord { method, metrics: Some(metrics), rejected: None }
            }
            StepOutcome::Rejected(why) => StepRecord { method, metrics: None, rejected: Some(why) },
        };
        on_event(SessionEvent::Step { lane, step, record, batch: chosen });
        if lane + 1 == self.lanes.len() {
            self.step = step;
            let every: Vec<Option<usize>> = (0..self.lanes.len()).map(Some).collect();
            self.queue_checkpoint(self.schedule.after(step, self.last), &every);
            if step < self.last {
                self.queue_step();
            }
        }
        Ok(())
    }

    /// The policy of `lane`, or the base model's.
    fn policy<'m>(&self, m: Models<'m>, lane: Option<usize>) -> PolicyOf<'m> {
        match lane {
            Some(i) => PolicyOf::Trained(self.lanes[i].trainer.policy()),
            None => PolicyOf::Base(m.lm.model()),
        }
    }

    async fn probe(&mut self, m: Models<'_>, lane: Option<usize>, on_event: &mut impl FnMut(SessionEvent)) -> Result<(), ExperimentError> {
        let Some(probe) = &self.probe else { return Ok(()) };
        on_event(SessionEvent::Probing { lane });
        let point = match lane {
            None => probe.base(self.step),
            Some(i) => {
                let policy = self.lanes[i].trainer.policy();
                probe.measure(&policy, Some(self.lanes[i].trainer.method()), self.step, m.lm.device()).await.map_err(engine)?
            }
        };
        on_event(SessionEvent::Probe { lane, point });
        Ok(())
    }

    async fn evaluate(&mut self, m: Models<'_>, lane: Option<usize>, prompt: usize, on_event: &mut impl FnMut(SessionEvent)) -> Result<(), ExperimentError> {
        let total = self.config.eval_prompts;
        on_event(SessionEvent::Evaluating { lane, done: prompt, total });
        if prompt == 0 {
            self.scores.clear();
        }
        let policy = self.policy(m, lane);
        let scores = evaluate_prompt(m.lm, m.embedder, policy.get(), m.set, &self.config, prompt).await?;
        self.scores.push(scores);
        if prompt + 1 < total {
            self.pending.push_front(Task::Evaluate { lane, prompt: prompt + 1 });
            return Ok(());
        }
        let method = lane.map(|i| self.lanes[i].trainer.method());
        let point = EvalPoint::from_prompts(method, self.step, &std::mem::take(&mut self.scores));
        on_event(SessionEvent::Eval { lane, point });
        Ok(())
    }
}

/// A lane's policy (built for the task) or the base model (lent).
enum PolicyOf<'m> {
    Trained(Llama),
    Base(&'m Llama),
}

impl PolicyOf<'_> {
    fn get(&self) -> &Llama {
        match self {
            Self::Trained(model) => model,
            Self::Base(model) => model,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The steps of a run of `steps` steps at which each measurement falls (step 0 first).
    fn measured(schedule: Schedule, steps: usize) -> (Vec<usize>, Vec<usize>) {
        let points = std::iter::once((0, schedule.at_start())).chain((1..=steps).map(|s| (s, schedule.after(s, steps))));
        let (mut probes, mut evals) = (Vec::new(), Vec::new());
        for (step, c) in points {
            if c.probe {
                probes.push(step);
            }
            if c.evaluate {
                evals.push(step);
            }
        }
        (probes, evals)
    }

    #[test]
    fn a_run_is_measured_every_n_steps_and_after_its_last_step() {
        let lesson = Schedule { probe_every: 2, eval_every: 5 };
        assert_eq!(measured(lesson, 5), (vec![0, 2, 4, 5], vec![0, 5]));
        let off = Schedule { probe_every: 0, eval_every: 0 };
        assert_eq!(measured(off, 3), (vec![], vec![]));
        let every = Schedule { probe_every: 1, eval_every: 4 };
        assert_eq!(measured(every, 8), ((0..=8).collect(), vec![0, 4, 8]));
    }
}
