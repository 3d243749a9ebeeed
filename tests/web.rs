//! In a real browser (wasm-bindgen-test, headless Chromium, in a dedicated worker like the
//! app's): the backend chosen by the worker computes the Jaccard matrix exactly as the pure
//! core does, on WebGPU and on the Flex CPU backend; and the lesson's compute (DDPO steps and
//! the mechanism probe's shared-prompt log-probs) gives Flex's numbers on that backend, on a
//! tiny random llama (the full model takes minutes a step on SwiftShader); and the worker's
//! generation task, driven through its runtime seam with the tiny llama as a GGUF in memory,
//! posts its events in order.
#![cfg(target_arch = "wasm32")]

mod common;
#[path = "web/schedule.rs"]
mod schedule;
mod tiny;

use std::cell::RefCell;
use std::rc::Rc;

use burn::module::Module;
use burn::tensor::Device;
use deviate::core::jaccard::jaccard_distances as core_jaccard;
use deviate::engine::protocol::BackendInfo;
use deviate::engine::similarity::jaccard_distances;
use deviate::engine::logps::{completion_logp_sums, shared_prompt_logp_sums};
use deviate::engine::train::{Method, StepOutcome, TrainConfig, Trainer};
use deviate::model::llama::{Adapters, Llama, LoraConfig, Target};
use deviate::engine::generate::GenerateParams;
use deviate::engine::protocol::{Event, ModelName};
use deviate::web::Generator;
use deviate::web::runtime::{Files, Runtime};
use futures::future::LocalBoxFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
async fn the_worker_backend_computes_jaccard_and_the_lesson_as_flex_does() {
    let texts = common::tricky_texts();
    let want = core_jaccard(&texts);

    // wgpu initialises once per process, so one test covers the chosen device.
    // Forced: the test browser's WebGPU is SwiftShader, which the page leaves for the CPU path.
    let (device, backend) = deviate::web::init_device(true).await;
    let expect_cpu = option_env!("DEVIATE_EXPECT_CPU").is_some();
    match (&backend, expect_cpu) {
        (BackendInfo::Webgpu { .. }, false) | (BackendInfo::Cpu { .. }, true) => {}
        _ => panic!("unexpected backend {backend:?} (DEVIATE_EXPECT_CPU set: {expect_cpu})"),
    }
    assert_eq!(jaccard_distances(&device, &texts).await.unwrap(), want, "on {}", backend.label());

    let cpu = Device::flex();
    assert_eq!(jaccard_distances(&cpu, &texts).await.unwrap(), want, "on Flex in wasm");
    lesson_compute_matches_flex(&device, &backend.label()).await;
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * b.abs().max(1.0)
}

/// Two DDPO steps from the same adapters, then the probe's log-probs, on `device` and on Flex.
async fn lesson_compute_matches_flex(device: &Device, label: &str) {
    let cpu = Device::flex();
    let base = Llama::random(&tiny::tiny(), 3, &cpu);
    let lora = LoraConfig { rank: 2, alpha: 4.0, targets: vec![Target::Q, Target::V], ..Default::default() };
    let config = TrainConfig { lora, learning_rate: 1e-2, seed: 5, ..Default::default() };
    let mut flex = Trainer::new(&base, Method::Ddpo, config.clone(), &cpu);
    let mut other = Trainer::new(&base.clone().to_device(device), Method::Ddpo, config, device);
    // The adapters' random start comes from each device's generator: copy Flex's over.
    other.load_adapters(flex.save_adapters().unwrap()).unwrap();
    for step in 1..=2 {
        let (StepOutcome::Applied(a), StepOutcome::Applied(b)) =
            (flex.step(&tiny::pairs()).await.unwrap(), other.step(&tiny::pairs()).await.unwrap())
        else {
            panic!("a step was rejected on {label}");
        };
        assert!(close(b.loss, a.loss) && close(b.rewards_margins, a.rewards_margins), "step {step} on {label}: {b:?} vs Flex {a:?}");
    }
    let prompt = vec![1, 5, 9, 14, 3];
    let completions = vec![vec![3, 4, 7, 2], vec![2], vec![20, 21, 22, 23, 24, 25, 26, 2]];
    let rows: Vec<(Vec<u32>, Vec<u32>)> = completions.iter().map(|c| (prompt.clone(), c.clone())).collect();
    let want = completion_logp_sums(&flex.policy(), &rows, Adapters::On, &cpu).await.unwrap();
    let got = shared_prompt_logp_sums(&other.policy(), &prompt, &completions, Adapters::On, device).await.unwrap();
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(close(f64::from(*g), f64::from(*w)), "probe log-prob {k} on {label}: {g} vs Flex {w}");
    }
}

/// A runtime for the worker's tasks that keeps their events and serves one model file from memory.
pub(crate) struct Recorder {
    pub(crate) events: RefCell<Vec<Event>>,
    pub(crate) file: Vec<u8>,
}

impl Runtime for Recorder {
    fn post(&self, event: &Event) {
        self.events.borrow_mut().push(event.clone());
    }

    fn now(&self) -> f64 {
        js_sys::Date::now()
    }

    fn load_files<'a>(&'a self, _: ModelName, names: &'a [&'a str]) -> LocalBoxFuture<'a, Files> {
        Box::pin(async move { Ok((names.iter().map(|_| self.file.clone()).collect(), true)) })
    }
}

#[wasm_bindgen_test]
async fn the_generation_task_posts_its_events_in_order_through_the_runtime() {
    let (gguf, _) = tiny::gguf::tiny_gguf();
    let recorder = Rc::new(Recorder { events: RefCell::default(), file: gguf });
    let generator = Generator::new(Device::flex(), recorder.clone());
    let params = GenerateParams { n: 2, max_tokens: 3, raw: true, ..Default::default() };
    generator.start(7, "ab a".into(), params.clone());
    generator.start(8, "ab a".into(), params); // refused: one generation at a time
    for _ in 0..600 {
        if recorder.events.borrow().iter().any(|e| matches!(e, Event::GenerationDone { .. })) {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(50).await;
    }
    let events = recorder.events.borrow();
    let kinds: Vec<&str> = events.iter().map(|e| match e {
        Event::Error { id: Some(8), .. } => "refused 8",
        Event::ModelReady { model: ModelName::Lm, cached: true, .. } => "lm ready",
        Event::GenerationStarted { id: 7, .. } => "started",
        Event::Token { id: 7, .. } => "token",
        Event::ContinuationDone { id: 7, .. } => "done",
        Event::GenerationDone { id: 7, stopped: false, .. } => "finished",
        _ => "unexpected",
    }).filter(|k| *k != "token").collect();
    assert_eq!(kinds, ["refused 8", "lm ready", "started", "done", "done", "finished"], "{events:?}");
}
