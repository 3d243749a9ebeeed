//! The page's side of the worker: spawns it, sends requests, turns its messages into
//! events for the UI. Latest wins: while a request is in flight only the newest pending
//! one is kept, so typing never queues stale work.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::engine::protocol::{Event, Request};

struct State {
    worker: Worker,
    ready: bool,
    in_flight: Option<u64>,
    pending: Option<(u64, Request)>,
    next_id: u64,
}

impl State {
    fn send_pending(&mut self) {
        if !self.ready || self.in_flight.is_some() {
            return;
        }
        if let Some((id, request)) = self.pending.take() {
            self.in_flight = Some(id);
            if !self.post(&request) {
                self.in_flight = None;
            }
        }
    }

    fn post(&self, request: &Request) -> bool {
        match self.worker.post_message(&JsValue::from_str(&request.to_json())) {
            Ok(()) => true,
            Err(error) => {
                web_sys::console::error_2(&"deviate: cannot post to the worker".into(), &error);
                false
            }
        }
    }
}

/// A handle on the worker; cheap to clone.
#[derive(Clone)]
pub struct Bridge(Rc<RefCell<State>>);

impl Bridge {
    /// Starts the worker; `on_event` receives every event it posts, and an `Error` event if
    /// the worker cannot start or crashes.
    pub fn spawn(on_event: impl Fn(Event) + 'static) -> Result<Self, String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options("./www/worker.js", &options)
            .map_err(|e| format!("cannot start the worker: {e:?}"))?;
        let bridge = Bridge(Rc::new(RefCell::new(State {
            worker: worker.clone(),
            ready: false,
            in_flight: None,
            pending: None,
            next_id: 1,
        })));
        let on_event = Rc::new(on_event);

        let (state, handler) = (bridge.0.clone(), on_event.clone());
        let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |message: MessageEvent| {
            let event = match message.data().as_string().map(|json| Event::from_json(&json)) {
                Some(Ok(event)) => event,
                Some(Err(error)) => Event::Error { id: None, message: format!("bad event from the worker: {error}") },
                None => Event::Error { id: None, message: "the worker posted a non-string message".into() },
            };
            {
                let mut state = state.borrow_mut();
                match &event {
                    Event::Ready { .. } => state.ready = true,
                    Event::Analysis { id, .. } | Event::Error { id: Some(id), .. }
                        if state.in_flight == Some(*id) =>
                    {
                        state.in_flight = None
                    }
                    _ => {}
                }
                state.send_pending();
            }
            handler(event);
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();

        let on_error = Closure::<dyn Fn(web_sys::ErrorEvent)>::new(move |error: web_sys::ErrorEvent| {
            on_event(Event::Error { id: None, message: format!("the worker failed: {}", error.message()) });
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        Ok(bridge)
    }

    /// Queues `make(id)` as the newest request that answers with this id (an analysis),
    /// replacing any that has not been sent yet, and returns the id.
    pub fn request(&self, make: impl FnOnce(u64) -> Request) -> u64 {
        let mut state = self.0.borrow_mut();
        let id = state.next_id;
        state.next_id += 1;
        state.pending = Some((id, make(id)));
        state.send_pending();
        id
    }

    /// Sends `make(id)` with a fresh id at once (not latest-wins: a generation) and returns the id.
    pub fn send_new(&self, make: impl FnOnce(u64) -> Request) -> u64 {
        let mut state = self.0.borrow_mut();
        let id = state.next_id;
        state.next_id += 1;
        state.post(&make(id));
        id
    }

    /// Sends a request that must not be dropped (the worker queues it until it is ready).
    pub fn send(&self, request: &Request) {
        self.0.borrow().post(request);
    }
}
