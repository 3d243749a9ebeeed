//! One loop for the page and the CLI: for every (steps, probe every, eval every) of a small
//! grid, the worker's training task (driven through its runtime seam, as the page drives it:
//! set-up, then one Run) and `deviate experiment`'s runner report the same steps, probes and
//! evaluations, in the same order, with the same numbers — on a tiny random llama and a tiny
//! random MiniLM-shaped encoder.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::rc::Rc;

use burn::tensor::Device;
use deviate::core::dataset::PreferenceSet;
use deviate::engine::embed::Embedder;
use deviate::engine::experiment::{ExperimentConfig, ExperimentEvent};
use deviate::engine::generate::LanguageModel;
use deviate::engine::protocol::{EvalSetup, Event, ProbeSetup, TrainSetup};
use deviate::engine::runner;
use deviate::engine::train::{Method, TrainConfig};
use deviate::model::bert::BertConfig;
use deviate::model::llama::{LlamaConfig, LoraConfig, Target};
use deviate::web::{Generator, Training};
use wasm_bindgen_test::*;

use super::Recorder;

/// Texts the tiny llama's vocabulary (lower-case letters and spaces) and the encoder's cover.
const SET: &str = r#"{
  "version": 1,
  "train": [
    {"prompt": "write about a cat", "responses": [
      {"text": "a cat sat", "score": 5}, {"text": "the cat ran far", "score": 4},
      {"text": "dogs bark", "score": 1}, {"text": "zebra quiz jam", "score": 4}]},
    {"prompt": "write about rain", "responses": [
      {"text": "rain fell all day", "score": 5}, {"text": "wet rain", "score": 2},
      {"text": "sun", "score": 1}, {"text": "a storm came at night", "score": 4}]}
  ],
  "heldout": [{"prompt": "write about snow"}, {"prompt": "write about a boat"}]
}"#;

/// A WordPiece tokenizer.json over the letters, with [CLS] … [SEP] around every text.
fn wordpiece_json() -> String {
    let mut vocab = vec!["[PAD]".to_string(), "[UNK]".into(), "[CLS]".into(), "[SEP]".into()];
    vocab.extend(('a'..='z').map(String::from));
    vocab.extend(('a'..='z').map(|c| format!("##{c}")));
    let entries: Vec<String> = vocab.iter().enumerate().map(|(i, t)| format!("\"{t}\": {i}")).collect();
    format!(
        r###"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true}},
        "pre_tokenizer": {{"type": "BertPreTokenizer"}},
        "post_processor": {{"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}},
        "decoder": null,
        "model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
        "vocab": {{{}}}}}}}"###,
        entries.join(", ")
    )
}

fn embedder(device: &Device) -> Embedder {
    let config = BertConfig { vocab_size: 56, max_positions: 300, hidden: 8, heads: 2, intermediate: 16, layers: 1, ..BertConfig::default() };
    Embedder::from_parts(config.init(device), wordpiece_json().as_bytes(), device).expect("the tiny encoder")
}

/// The tiny llama with room for the chat template's prompt.
fn llama() -> LlamaConfig {
    LlamaConfig { context: 256, ..crate::tiny::tiny() }
}

fn setup(probe_every: usize, eval_every: usize) -> TrainSetup {
    let lora = LoraConfig { rank: 2, alpha: 4.0, targets: vec![Target::Q, Target::V], ..Default::default() };
    TrainSetup {
        methods: vec![Method::Dpo, Method::Ddpo],
        pairs_per_step: 1,
        train: TrainConfig { lora, learning_rate: 1e-2, seed: 4, ..Default::default() },
        eval: EvalSetup { every: eval_every, prompts: 2, samples: 2, tokens: 2 },
        probe: ProbeSetup { every: probe_every, prompts: 1 },
        data: Some(PreferenceSet::from_json(SET).expect("the set")),
        ..TrainSetup::default()
    }
}

fn name(method: Option<Method>) -> &'static str {
    method.map_or("base", Method::name)
}

/// What the runner reported, one line per step, probe and evaluation.
fn runner_lines(events: &[ExperimentEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ExperimentEvent::Step(r) => Some(match &r.metrics {
                Some(m) => format!("step {} {} loss {:.6} norm {:.6}", r.method.name(), m.step, m.loss, m.grad_norm),
                None => format!("rejected {}", r.method.name()),
            }),
            ExperimentEvent::Probe(p) => Some(format!("probe {} {} slope {:.6}", name(p.method), p.step, p.mechanism.slope)),
            ExperimentEvent::Eval(e) => Some(format!("eval {} {} semantic {:.6} texts {:?}", name(e.method), e.step, e.semantic_diversity, e.texts)),
            ExperimentEvent::Prepared { .. } => None,
        })
        .collect()
}

/// What the worker posted, in the same lines.
fn worker_lines(events: &[Event], methods: &[Method]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TrainStep { lane, metrics: m, .. } => Some(format!("step {} {} loss {:.6} norm {:.6}", methods[*lane].name(), m.step, m.loss, m.grad_norm)),
            Event::TrainRejected { lane, .. } => Some(format!("rejected {}", methods[*lane].name())),
            Event::TrainProbe { point: p, .. } => Some(format!("probe {} {} slope {:.6}", name(p.method), p.step, p.mechanism.slope)),
            Event::TrainEval { point: e, .. } => Some(format!("eval {} {} semantic {:.6} texts {:?}", name(e.method), e.step, e.semantic_diversity, e.texts)),
            _ => None,
        })
        .collect()
}

/// Waits until `recorder` holds `n` idle events; fails on an error event.
async fn idles(recorder: &Recorder, n: usize) {
    for _ in 0..2400 {
        let events = recorder.events.borrow();
        assert!(!events.iter().any(|e| matches!(e, Event::Error { .. })), "{events:?}");
        if events.iter().filter(|e| matches!(e, Event::TrainIdle { .. })).count() >= n {
            return;
        }
        drop(events);
        gloo_timers::future::TimeoutFuture::new(25).await;
    }
    panic!("the worker's task did not finish: {:?}", recorder.events.borrow());
}

async fn worker_run(gguf: &[u8], embedder: Rc<Embedder>, setup: &TrainSetup, steps: usize) -> Vec<Event> {
    let recorder = Rc::new(Recorder { events: RefCell::default(), file: gguf.to_vec() });
    let training = Training::new(Generator::new(Device::flex(), recorder.clone()), Rc::new(RefCell::new(Some(embedder))), true);
    training.start(1, setup.clone());
    idles(&recorder, 1).await;
    training.run(1, steps);
    idles(&recorder, 2).await;
    recorder.events.take()
}

#[wasm_bindgen_test]
async fn the_worker_and_the_runner_run_one_schedule() {
    let device = Device::flex();
    let (gguf, _) = crate::tiny::gguf::llama_gguf(&llama());
    let lm = LanguageModel::from_gguf_bytes(&gguf, &device).expect("the tiny llama");
    let embedder = Rc::new(embedder(&device));
    for (steps, probe_every, eval_every) in [(1, 0, 1), (1, 2, 3), (3, 2, 1), (3, 0, 3), (5, 2, 3), (5, 1, 2)] {
        let setup = setup(probe_every, eval_every);
        let set = setup.data.clone().unwrap();
        let config = ExperimentConfig { steps, ..setup.experiment_config(set.heldout.len()) };
        let mut events = Vec::new();
        runner::run(&lm, &embedder, &set, &config, |e| {
            events.push(e.clone());
            ControlFlow::Continue(())
        })
        .await
        .expect("the runner");
        let want = runner_lines(&events);
        let got = worker_lines(&worker_run(&gguf, embedder.clone(), &setup, steps).await, &setup.methods);
        let label = format!("{steps} steps, probe every {probe_every}, eval every {eval_every}");
        assert_eq!(got, want, "{label}");
        let probes = want.iter().filter(|l| l.starts_with("probe")).count();
        let evals = want.iter().filter(|l| l.starts_with("eval")).count();
        let due = |every: usize| if every == 0 { 0 } else { 1 + 2 * (steps / every + usize::from(steps % every != 0)) };
        assert_eq!((probes, evals), (due(probe_every), due(eval_every)), "{label}: the base model, then each lane every N steps and at the last");
        assert_eq!(want.iter().filter(|l| l.starts_with("step")).count(), 2 * steps, "{label}");
    }
}
