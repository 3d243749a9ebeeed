//! `deviate experiment`'s driver: the session's loop ([`crate::engine::session`]) run to the
//! end in one go, its events gathered into a report.

use std::ops::ControlFlow;

use crate::core::dataset::PreferenceSet;
use crate::engine::embed::Embedder;
use crate::engine::experiment::{ExperimentConfig, ExperimentEvent, ExperimentReport};
use crate::engine::generate::LanguageModel;
use crate::engine::prompts::ExperimentError;
use crate::engine::session::{Models, Session, SessionEvent};

/// Runs every method of `config` on `set` for `config.steps` steps, the lanes side by side as
/// the page runs them ([`Session`]); `on_event` sees progress and may stop the run (`Break`),
/// in which case the report holds what was done.
pub async fn run(
    lm: &LanguageModel,
    embedder: &Embedder,
    set: &PreferenceSet,
    config: &ExperimentConfig,
    mut on_event: impl FnMut(&ExperimentEvent) -> ControlFlow<()>,
) -> Result<ExperimentReport, ExperimentError> {
    if config.methods.is_empty() || config.steps == 0 || config.eval_every == 0 {
        return Err(ExperimentError::Config);
    }
    if config.eval_prompts.min(set.heldout.len()) == 0 {
        return Err(ExperimentError::NoHeldOut);
    }
    let models = Models { lm, embedder, set };
    let mut session = Session::new(models, config, || {}).await?;
    let mut report = ExperimentReport { config: config.clone(), steps: Vec::new(), evals: Vec::new(), probes: Vec::new() };
    let prepared = ExperimentEvent::Prepared { pairs: session.lanes().iter().map(|l| l.pair_count()).sum() };
    let mut stop = on_event(&prepared).is_break();
    session.run(config.steps);
    while !stop && !session.is_idle() {
        session
            .advance(models, &mut |event| {
                let Some(event) = reported(event) else { return };
                stop |= on_event(&event).is_break();
                report.add(event);
            })
            .await?;
    }
    Ok(report)
}

/// What a session's event says in the report: its steps, probes and evaluations.
fn reported(event: SessionEvent) -> Option<ExperimentEvent> {
    match event {
        SessionEvent::Step { record, .. } => Some(ExperimentEvent::Step(record)),
        SessionEvent::Probe { point, .. } => Some(ExperimentEvent::Probe(point)),
        SessionEvent::Eval { point, .. } => Some(ExperimentEvent::Eval(point)),
        SessionEvent::Stepping { .. } | SessionEvent::Probing { .. } | SessionEvent::Evaluating { .. } => None,
    }
}
