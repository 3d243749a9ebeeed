//! The worker: owns the device (and, later, the models), answers requests in order, posts
//! events. Runs in a dedicated module worker, never on the page's main thread.

use futures::StreamExt;
use futures::channel::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::core::deviation::{raw_deviation, weights};
use crate::engine::protocol::{Event, Request, SimilarityKind};
use crate::engine::similarity::jaccard_distances;

use super::backend::init_device;

fn post(scope: &DedicatedWorkerGlobalScope, event: &Event) {
    if let Err(error) = scope.post_message(&JsValue::from_str(&event.to_json())) {
        web_sys::console::error_2(&"deviate worker: cannot post an event".into(), &error);
    }
}

pub fn run(early_messages: js_sys::Array) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (sender, mut requests) = mpsc::unbounded::<JsValue>();
    for message in early_messages.iter() {
        let _ = sender.unbounded_send(message);
    }
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
        let _ = sender.unbounded_send(event.data());
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget(); // lives as long as the worker

    wasm_bindgen_futures::spawn_local(async move {
        let (device, backend) = init_device().await;
        post(&scope, &Event::Ready { backend });
        while let Some(message) = requests.next().await {
            let Some(json) = message.as_string() else {
                post(&scope, &Event::Error { id: None, message: "the worker takes JSON strings".into() });
                continue;
            };
            let request = match Request::from_json(&json) {
                Ok(request) => request,
                Err(error) => {
                    post(&scope, &Event::Error { id: None, message: format!("bad request: {error}") });
                    continue;
                }
            };
            post(&scope, &handle(&device, request).await);
        }
    });
}

async fn handle(device: &burn::tensor::Device, request: Request) -> Event {
    match request {
        Request::Analyze { id, similarity, texts } => {
            let started = now();
            let distances = match similarity {
                SimilarityKind::Jaccard => jaccard_distances(device, &texts).await,
            };
            match distances {
                Ok(distances) => {
                    let deviation = raw_deviation(&distances);
                    let weight = weights(&[&deviation], None);
                    Event::Analysis { id, distances, deviation, weight, millis: now() - started }
                }
                Err(error) => Event::Error { id: Some(id), message: error.to_string() },
            }
        }
    }
}

fn now() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or(0.0, |p| p.now())
}
