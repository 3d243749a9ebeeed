// all-MiniLM-L6-v2 in the browser's worker against tests/reference/minilm_reference.json (the
// numpy reference): token ids exactly, each embedding's cosine ≥ 0.99999, pairwise cosines within
// 1e-4, on WebGPU (SwiftShader) and on the CPU path. The test drives the app's own worker
// (www/worker.js) through its typed JSON protocol, as the page does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, launch, workerHost, ROOT } from './harness.mjs';

const REFERENCE = JSON.parse(readFileSync(path.join(ROOT, 'tests/reference/minilm_reference.json'), 'utf8'));

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

// DEVIATE_E2E_BENCH=1 also times the worker on the benchmark sentences (minutes on SwiftShader):
// a figure to report, not a pass/fail check, so CI leaves it off.
const BENCHMARK = process.env.DEVIATE_E2E_BENCH === '1';
// The sentences of `deviate bench embed` (src/bin/deviate/bench.rs), ~60 tokens each.
const WORDS = ['lighthouse', 'keeper', 'storm', 'harbour', 'lantern', 'whisper', 'ocean', 'midnight', 'stairs', 'gull',
  'letter', 'captain', 'fog', 'island', 'bell', 'winter', 'shadow', 'signal', 'rope', 'tide', 'memory', 'stone', 'window', 'song'];
const BENCH = Array.from({ length: 32 }, (_, i) =>
  `${Array.from({ length: 48 }, (_, j) => WORDS[(i * 7 + j * 5 + j * j) % WORDS.length]).join(' ')}, and then the night was quiet again.`);

const cosine = (a, b) => {
  const dot = a.reduce((s, x, i) => s + x * b[i], 0);
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return dot / (norm(a) * norm(b));
};

for (const webgpu of [true, false]) {
  const name = webgpu ? 'WebGPU (SwiftShader)' : 'CPU path';
  test(`MiniLM in the worker matches the numpy reference on ${name}`, { timeout: 600_000 }, async () => {
    const browser = await launch({ webgpu });
    try {
      const page = await workerHost(browser, server);
      const result = await page.evaluate(([texts, bench]) => {
        let backend;
        let reference;
        const timings = [];
        let sentAt = 0;
        return workerSession((event, worker) => {
          if (event.type === 'ready') backend = event.backend.kind;
          if (event.type === 'model_ready') worker.postMessage(JSON.stringify({ type: 'embed', id: 1, texts }));
          if (event.type !== 'embeddings') return undefined;
          // Then time two passes over the benchmark sentences as one batch (the second is warm).
          if (event.id === 1) reference = event; else timings.push(performance.now() - sentAt);
          if (bench.length === 0 || timings.length === 2) return { ...reference, backend, timings };
          sentAt = performance.now();
          worker.postMessage(JSON.stringify({ type: 'embed', id: 2 + timings.length, texts: bench }));
          return undefined;
        }, 300_000);
      }, [REFERENCE.sentences, BENCHMARK ? BENCH : []]);
      if (BENCHMARK) {
        const warm = result.timings[1];
        console.log(`# ${name}: batch of ${BENCH.length} ~60-token sentences: first ${result.timings[0].toFixed(0)} ms, `
          + `warm ${warm.toFixed(0)} ms = ${(BENCH.length / warm * 1000).toFixed(1)} sentences/s`);
      }

      assert.equal(result.backend, webgpu ? 'webgpu' : 'cpu');
      assert.deepEqual(result.token_ids, REFERENCE.token_ids);
      result.vectors.forEach((v, i) => {
        assert.equal(v.length, 384);
        const c = cosine(v, REFERENCE.embeddings[i]);
        assert.ok(c >= 0.99999, `sentence ${i}: cosine with the reference ${c}`);
      });
      REFERENCE.cosine.forEach((row, i) => row.forEach((want, j) => {
        const c = cosine(result.vectors[i], result.vectors[j]);
        assert.ok(Math.abs(c - want) <= 1e-4, `cos(${i},${j}) = ${c}, reference ${want}`);
      }));
    } finally {
      await browser.close();
    }
  });
}
