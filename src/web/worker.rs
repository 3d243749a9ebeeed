//! The worker: owns the device and the models, answers requests in order, posts events.
//! Runs in a dedicated module worker, never on the page's main thread.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use futures::StreamExt;
use futures::channel::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::core::records::PromptDeviation;
use crate::engine::embed::Embedder;
use crate::engine::protocol::{BackendInfo, Event, ModelName, Request, SimilarityKind};
use crate::engine::similarity::distances;

use super::backend::init_device;
use super::fetch;
use super::generation::Generator;
use super::runtime::{Rt, Runtime, wasm_memory};
use super::scope::WorkerScope;
use super::training::Training;

/// The model files the embedder needs, in the order `Embedder::from_bytes` takes them.
const EMBEDDER_FILES: [&str; 2] = ["model.safetensors", "tokenizer.json"];

type Slot = Rc<RefCell<Option<Rc<Embedder>>>>;

/// Panics go to the console and to the page ([`Event::Crashed`]), which replaces this worker:
/// after a panic its state cannot be trusted.
pub fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        WorkerScope.post(&Event::Crashed { message: info.to_string() });
    }));
}

/// A ping is answered at once, from the message handler: the request loop may be awaiting
/// a long task.
fn is_ping(data: &JsValue) -> bool {
    data.as_string().is_some_and(|json| json == Request::Ping.to_json())
}

pub fn run(early_messages: js_sys::Array, cpu_reason: Option<String>, force_software_gpu: bool) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (sender, mut requests) = mpsc::unbounded::<JsValue>();
    for message in early_messages.iter().filter(|m| !is_ping(m)) {
        let _ = sender.unbounded_send(message);
    }
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
        if is_ping(&event.data()) {
            WorkerScope.post(&Event::Pong);
        } else {
            let _ = sender.unbounded_send(event.data());
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget(); // lives as long as the worker

    let rt: Rt = Rc::new(WorkerScope);
    wasm_bindgen_futures::spawn_local(async move {
        let (device, backend) = match cpu_reason {
            Some(reason) => (Device::flex(), BackendInfo::Cpu { reason }),
            None => init_device(force_software_gpu).await,
        };
        // Adapters are read back synchronously (burn's safetensors store), which a browser allows
        // on the CPU path only.
        let readable = matches!(backend, BackendInfo::Cpu { .. });
        rt.post(&Event::Ready { backend });
        let embedder: Slot = Rc::default();
        // Loading runs beside the request loop, so the model-free similarities answer meanwhile.
        wasm_bindgen_futures::spawn_local(load_embedder(rt.clone(), device.clone(), embedder.clone()));
        let generator = Generator::new(device.clone(), rt.clone());
        let training = Training::new(generator.clone(), embedder.clone(), readable);
        while let Some(message) = requests.next().await {
            let request = match message.as_string().map(|json| Request::from_json(&json)) {
                Some(Ok(request)) => request,
                Some(Err(error)) => {
                    rt.post(&Event::Error { id: None, message: format!("bad request: {error}") });
                    continue;
                }
                None => {
                    rt.post(&Event::Error { id: None, message: "the worker takes JSON strings".into() });
                    continue;
                }
            };
            // Generation runs as its own task, beside this loop, so analyses and a stop request
            // are answered while it runs.
            match request {
                Request::Generate { id, prompt, params } => generator.start(id, prompt, params),
                Request::StopGeneration { id } => generator.stop(id),
                Request::TrainStart { id, setup } => training.start(id, setup),
                Request::TrainRun { id, steps } => training.run(id, steps),
                Request::TrainPause { id } => training.pause(id),
                Request::TrainExport { id, lane } => training.export(id, lane),
                Request::TrainExportTrl { id, lane, steps, link } => training.export_trl(id, lane, steps, &link),
                Request::TrainImport { id, lane, safetensors } => training.import(id, lane, &safetensors),
                request => {
                    let loaded = embedder.borrow().clone();
                    rt.post(&handle(&*rt, &device, loaded.as_deref(), request).await);
                }
            }
        }
    });
}

async fn handle(rt: &dyn Runtime, device: &Device, embedder: Option<&Embedder>, request: Request) -> Event {
    match request {
        Request::Analyze { id, similarity, texts } => analyze(rt, device, embedder, id, similarity, texts).await,
        Request::Embed { id, texts } => match embedder {
            Some(embedder) => embed(embedder, id, texts).await,
            None => Event::Error { id: Some(id), message: "the MiniLM model is not loaded".into() },
        },
        Request::ClearCache => match fetch::clear_cache().await {
            Ok(()) => Event::CacheCleared,
            Err(message) => Event::Error { id: None, message: format!("could not clear the cache: {message}") },
        },
        Request::Generate { id, .. }
        | Request::StopGeneration { id }
        | Request::TrainStart { id, .. }
        | Request::TrainRun { id, .. }
        | Request::TrainPause { id }
        | Request::TrainExport { id, .. }
        | Request::TrainExportTrl { id, .. }
        | Request::TrainImport { id, .. } => Event::Error { id: Some(id), message: "this request goes to a task".into() },
        Request::Ping => Event::Pong,
    }
}

async fn analyze(
    rt: &dyn Runtime,
    device: &Device,
    embedder: Option<&Embedder>,
    id: u64,
    similarity: SimilarityKind,
    texts: Vec<String>,
) -> Event {
    let started = rt.now();
    match distances(similarity, &texts, device, embedder).await {
        Ok((kinds, truncated)) => {
            let result = PromptDeviation::from_distances(String::new(), &kinds, None);
            let distances = kinds.into_iter().next().expect("every kind has a matrix");
            Event::Analysis {
                id,
                similarity,
                distances,
                deviation: result.deviation,
                weight: result.weight,
                truncated,
                millis: rt.now() - started,
            }
        }
        Err(error) => Event::Error { id: Some(id), message: error.to_string() },
    }
}

async fn embed(embedder: &Embedder, id: u64, texts: Vec<String>) -> Event {
    let token_ids: Result<Vec<_>, _> = texts.iter().map(|t| embedder.token_ids(t)).collect();
    match (token_ids, embedder.embed(&texts).await) {
        (Ok(token_ids), Ok(embedded)) => {
            Event::Embeddings { id, token_ids, vectors: embedded.vectors, truncated: embedded.truncated }
        }
        (Err(error), _) | (_, Err(error)) => Event::Error { id: Some(id), message: error.to_string() },
    }
}

/// Fetches (or reads from the cache) the embedder's files with progress events, loads the
/// model onto `device`, runs it once so its kernels are compiled, and fills `slot`.
async fn load_embedder(rt: Rt, device: Device, slot: Slot) {
    let started = rt.now();
    let result = async {
        let (mut files, all_cached) = rt.load_files(ModelName::Embedder, &EMBEDDER_FILES).await?;
        let tokenizer = files.pop().expect("two files");
        let weights = files.pop().expect("two files");
        let embedder = Embedder::from_bytes(weights, &tokenizer, &device).map_err(|e| e.to_string())?;
        embedder.embed(&["Warming up the kernels."]).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((embedder, all_cached))
    }
    .await;
    match result {
        Ok((embedder, cached)) => {
            *slot.borrow_mut() = Some(Rc::new(embedder));
            let model = ModelName::Embedder;
            rt.post(&Event::ModelReady { model, cached, millis: rt.now() - started, memory_bytes: wasm_memory() });
        }
        Err(message) => rt.post(&Event::ModelError { model: ModelName::Embedder, message }),
    }
}

