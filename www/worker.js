// Module worker bootstrap: load the wasm, then hand control to Rust (src/web/worker.rs).
// Messages that arrive while the wasm loads are kept and handed over, so none is lost.
import init, { start_worker } from '../pkg/deviate.js';

const early = [];
self.onmessage = (event) => early.push(event.data);
await init();
start_worker(early);
