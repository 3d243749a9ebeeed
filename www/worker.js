// Module worker bootstrap: load the wasm, then hand control to Rust (src/web/worker.rs).
// Messages that arrive while the wasm loads are kept and handed over, so none is lost.
// `?cpu=REASON` (a replaced WebGPU worker) runs on the CPU with that reason; `?gpu=force` lets it
// use a software WebGPU adapter (SwiftShader), which it otherwise leaves for the CPU path.
import init, { start_worker } from '../pkg/deviate.js';

const early = [];
self.onmessage = (event) => early.push(event.data);
// A trap in an async task (out of memory, a panic) rejects a promise; rethrown from a task, it
// reaches the page as the worker's error event, and the page replaces this worker.
self.addEventListener('unhandledrejection', (event) => {
  setTimeout(() => { throw event.reason instanceof Error ? event.reason : new Error(String(event.reason)); });
});
await init();
const params = new URL(self.location.href).searchParams;
start_worker(early, params.get('cpu') ?? undefined, params.get('gpu') === 'force');
