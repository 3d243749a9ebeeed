// SmolLM2 in the browser's worker against tests/reference/smollm2_reference.json (the numpy
// reference): greedy decoding of the raw reference prompt gives its 20 token ids exactly on the
// CPU path, and the first 4 on WebGPU (SwiftShader emulates a GPU on the CPU at ~14 s a token:
// enough to prove the WebGPU kernels right on the full model, as DESIGN.md advises). Drives the app's worker (www/worker.js) through its typed
// JSON protocol from a blank page (the app and its worker stay out), and prints load time, worker memory and tokens/s as figures (not checks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, launch, workerHost, ROOT } from './harness.mjs';

const REFERENCE = JSON.parse(readFileSync(path.join(ROOT, 'tests/reference/smollm2_reference.json'), 'utf8'));

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

for (const webgpu of [false, true]) {
  const name = webgpu ? 'WebGPU (SwiftShader)' : 'CPU path';
  test(`SmolLM2 greedy ids in the worker match the reference on ${name}`, { timeout: 900_000 }, async () => {
    const browser = await launch({ webgpu });
    try {
      const page = await workerHost(browser, server);
      const want = webgpu ? REFERENCE.greedy_ids.slice(0, 4) : REFERENCE.greedy_ids;
      const params = { n: 1, max_tokens: want.length, raw: true, temperature: 0, repetition_penalty: 1 };
      // A CPU token takes well under a second and a SwiftShader one about 14 s, a load about 30 s:
      // 5 minutes without any event means the worker is stuck.
      const result = await page.evaluate(([prompt, params]) => {
        const out = {};
        return workerSession((event, worker) => {
          if (event.type === 'ready') {
            out.backend = event.backend.kind;
            worker.postMessage(JSON.stringify({ type: 'generate', id: 1, prompt, params }));
          }
          if (event.type === 'model_ready' && event.model === 'lm') Object.assign(out, { load: event.millis, memory: event.memory_bytes });
          if (event.type === 'continuation_done') out.continuation = event.continuation;
          if (event.type === 'generation_done') return { ...out, done: event };
          return undefined;
        }, 300_000);
      }, [REFERENCE.prompt, params]);
      const rate = result.done.tokens / (result.done.millis / 1000);
      console.log(`# ${name}: LM load ${(result.load / 1000).toFixed(1)} s, worker wasm memory `
        + `${(result.memory / 1e6).toFixed(0)} MB, ${result.done.tokens} greedy tokens at ${rate.toFixed(2)} tokens/s`);
      assert.equal(result.backend, webgpu ? 'webgpu' : 'cpu');
      assert.deepEqual(result.continuation.token_ids, want);
      assert.equal(result.continuation.finish, 'length');
    } finally {
      await browser.close();
    }
  });
}
