//! The page's side of the worker: starts it, sends requests, turns its messages into events
//! for the UI, and replaces it when it dies. Latest wins: while an analysis is in flight only
//! the newest pending one is kept, so typing never queues stale work.
//!
//! A worker is lost when it crashes (its panic hook says so), when an error reaches the page
//! (a trap, out of memory), when a message cannot be posted to it, or when it stays silent
//! longer than the [`Watchdog`] allows. The bridge then starts another (on the CPU path if
//! the lost one ran on WebGPU: a lost device or GPU memory is the likely cause), sends it the
//! analysis that was in flight, and tells the page through `on_restart`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;

use gloo_timers::callback::Interval;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::engine::protocol::{BackendInfo, Event, Request};
use crate::page::watchdog::{PING_EVERY_MS, Restart, Watchdog};

struct Handlers {
    on_event: Box<dyn Fn(Event)>,
    on_restart: Box<dyn Fn(Restart)>,
}

struct State {
    worker: Worker,
    /// Counts the workers started; handlers of an earlier one are ignored.
    generation: u64,
    on_webgpu: bool,
    /// Once set, every later worker runs on the CPU, with this reason on the badge.
    cpu_reason: Option<String>,
    watchdog: Watchdog,
    /// The page waits on work it asked for (a generation, training, a model load).
    page_busy: bool,
    given_up: bool,
    in_flight: Option<(u64, Request)>,
    pending: Option<(u64, Request)>,
    next_id: u64,
}

/// A handle on the worker; cheap to clone.
#[derive(Clone)]
pub struct Bridge(Rc<RefCell<State>>, Rc<Handlers>);

fn now() -> f64 {
    js_sys::Date::now()
}

/// The worker script's address, set once by [`super::start_app`].
static WORKER_URL: OnceLock<String> = OnceLock::new();

pub fn set_worker_url(url: String) {
    let _ = WORKER_URL.set(url);
}

/// Whether the page's address asks for WebGPU even on a software adapter (`?gpu=force`).
fn forced_gpu() -> bool {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    search.trim_start_matches('?').split('&').any(|p| p == "gpu=force")
}

/// Starts a module worker; with `cpu_reason`, it skips WebGPU and shows the reason.
fn start(cpu_reason: Option<&str>) -> Result<Worker, String> {
    let options = WorkerOptions::new();
    options.set_type(WorkerType::Module);
    let script = WORKER_URL.get().map_or("./www/worker.js", String::as_str);
    let mut query = Vec::new();
    if let Some(reason) = cpu_reason {
        query.push(format!("cpu={}", String::from(js_sys::encode_uri_component(reason))));
    }
    if forced_gpu() {
        query.push("gpu=force".to_string());
    }
    let url = if query.is_empty() { script.to_string() } else { format!("{script}?{}", query.join("&")) };
    Worker::new_with_options(&url, &options).map_err(|e| format!("cannot start the worker: {e:?}"))
}

fn post_to(worker: &Worker, request: &Request) -> Result<(), String> {
    worker.post_message(&JsValue::from_str(&request.to_json())).map_err(|e| format!("{e:?}"))
}

impl Bridge {
    /// Starts the worker; `on_event` receives every event it posts (an `Error` for a bad
    /// one), `on_restart` hears when a lost worker was replaced or given up on.
    pub fn spawn(on_event: impl Fn(Event) + 'static, on_restart: impl Fn(Restart) + 'static) -> Result<Self, String> {
        let state = State {
            worker: start(None)?,
            generation: 0,
            on_webgpu: false,
            cpu_reason: None,
            watchdog: Watchdog::new(),
            page_busy: false,
            given_up: false,
            in_flight: None,
            pending: None,
            next_id: 1,
        };
        let handlers = Handlers { on_event: Box::new(on_event), on_restart: Box::new(on_restart) };
        let bridge = Bridge(Rc::new(RefCell::new(state)), Rc::new(handlers));
        bridge.attach();
        let ticking = bridge.clone();
        Interval::new(PING_EVERY_MS, move || ticking.tick()).forget(); // as long as the page
        Ok(bridge)
    }

    /// Connects the current worker's messages and errors to this bridge.
    fn attach(&self) {
        let (worker, generation) = {
            let state = self.0.borrow();
            (state.worker.clone(), state.generation)
        };
        let bridge = self.clone();
        let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |message: MessageEvent| {
            if bridge.0.borrow().generation == generation {
                bridge.receive(message.data());
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let bridge = self.clone();
        let on_error = Closure::<dyn Fn(web_sys::ErrorEvent)>::new(move |error: web_sys::ErrorEvent| {
            error.prevent_default();
            if bridge.0.borrow().generation == generation {
                bridge.lost(format!("it failed: {}", error.message()));
            }
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
    }

    fn receive(&self, data: JsValue) {
        let event = match data.as_string().map(|json| Event::from_json(&json)) {
            Some(Ok(event)) => event,
            Some(Err(error)) => Event::Error { id: None, message: format!("bad event from the worker: {error}") },
            None => Event::Error { id: None, message: "the worker posted a non-string message".into() },
        };
        {
            let mut state = self.0.borrow_mut();
            state.watchdog.heard(matches!(event, Event::Ready { .. }));
            match &event {
                Event::Ready { backend } => state.on_webgpu = matches!(backend, BackendInfo::Webgpu { .. }),
                Event::Analysis { id, .. } | Event::Error { id: Some(id), .. }
                    if state.in_flight.as_ref().is_some_and(|(sent, _)| sent == id) =>
                {
                    state.in_flight = None
                }
                _ => {}
            }
        }
        match event {
            Event::Pong => {}
            Event::Crashed { message } => self.lost(format!("it crashed: {message}")),
            event => {
                self.send_pending();
                (self.1.on_event)(event);
            }
        }
    }

    /// Pings the worker, or replaces it when it has been silent too long.
    fn tick(&self) {
        let verdict = {
            let mut state = self.0.borrow_mut();
            if state.given_up {
                return;
            }
            // An analysis in flight may take a while too (MiniLM over 200 responses on the CPU).
            let busy = state.page_busy || state.in_flight.is_some();
            state.watchdog.set_busy(busy);
            state.watchdog.lost(now()).ok_or_else(|| state.worker.clone())
        };
        match verdict {
            Ok(reason) => self.lost(reason),
            Err(worker) => match post_to(&worker, &Request::Ping) {
                Ok(()) => self.0.borrow_mut().watchdog.pinged(now()),
                Err(error) => self.lost(format!("a ping could not be posted: {error}")),
            },
        }
    }

    /// Replaces a lost worker (or gives up) and tells the page.
    fn lost(&self, reason: String) {
        let restart = {
            let mut state = self.0.borrow_mut();
            if state.given_up {
                return;
            }
            state.worker.terminate();
            state.generation += 1;
            let mut restart = Restart { reason, cpu_fallback: false, given_up: false };
            if !state.watchdog.restart(now()) {
                state.given_up = true;
                restart.given_up = true;
            } else {
                if state.on_webgpu && state.cpu_reason.is_none() {
                    state.cpu_reason = Some(format!("the WebGPU worker was lost: {}", restart.reason));
                    restart.cpu_fallback = true;
                }
                state.on_webgpu = false;
                if let Some(request) = state.in_flight.take() {
                    state.pending.get_or_insert(request);
                }
                match start(state.cpu_reason.as_deref()) {
                    Ok(worker) => state.worker = worker,
                    Err(message) => {
                        state.given_up = true;
                        restart.given_up = true;
                        restart.reason = format!("{}; {message}", restart.reason);
                    }
                }
            }
            restart
        };
        if !restart.given_up {
            self.attach();
        }
        (self.1.on_restart)(restart);
    }

    /// Sends the pending analysis once the worker is ready and none is in flight.
    fn send_pending(&self) {
        let failed = {
            let mut state = self.0.borrow_mut();
            if !state.watchdog.ready() || state.in_flight.is_some() || state.given_up {
                return;
            }
            let Some((id, request)) = state.pending.take() else { return };
            let result = post_to(&state.worker, &request);
            state.in_flight = Some((id, request));
            result.err()
        };
        if let Some(error) = failed {
            self.lost(format!("a request could not be posted: {error}"));
        }
    }

    /// Posts `request` now; a failure counts as a lost worker (a new one gets the requests
    /// sent after it, and the page hears why).
    fn post(&self, request: &Request) {
        let result = {
            let state = self.0.borrow();
            if state.given_up { Err("the worker was given up on".to_string()) } else { post_to(&state.worker, request) }
        };
        if let Err(error) = result {
            self.lost(format!("a request could not be posted: {error}"));
        }
    }

    fn fresh_id(&self) -> u64 {
        let mut state = self.0.borrow_mut();
        state.next_id += 1;
        state.next_id - 1
    }

    /// Whether the page waits on work it asked for (the watchdog allows a longer silence).
    pub fn set_busy(&self, busy: bool) {
        self.0.borrow_mut().page_busy = busy;
    }

    /// Queues `make(id)` as the newest request that answers with this id (an analysis),
    /// replacing any that has not been sent yet, and returns the id.
    pub fn request(&self, make: impl FnOnce(u64) -> Request) -> u64 {
        let id = self.fresh_id();
        self.0.borrow_mut().pending = Some((id, make(id)));
        self.send_pending();
        id
    }

    /// Sends `make(id)` with a fresh id at once (not latest-wins: a generation) and returns the id.
    pub fn send_new(&self, make: impl FnOnce(u64) -> Request) -> u64 {
        let id = self.fresh_id();
        self.post(&make(id));
        id
    }

    /// Sends a request that must not be dropped (the worker queues it until it is ready).
    pub fn send(&self, request: &Request) {
        self.post(request);
    }
}
