// The lesson's figures on the page's CPU path beside the native CLI's, from one run: greedy
// tokens/s at batch 1 and 4, one DDPO lane-step (2 pairs), one evaluation of the base model,
// MiniLM sentences/s, and the worker's wasm memory. An opt-in benchmark (DEVIATE_E2E_BENCH=1),
// not a check CI runs: `deviate bench lesson --json` gives the inputs and the native figures, the
// page's worker (www/worker.js, driven through its JSON protocol from a blank page) gets the same
// inputs, and each figure is the median of REPEATS runs after a warm-up. The table is printed and
// written to test-output/e2e/bench.json.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, launch, workerHost, BIN, ROOT, OUT } from './harness.mjs';

const REPEATS = Number(process.env.DEVIATE_BENCH_REPEATS ?? 3);

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** In the page: runs the plan against a fresh worker and returns the browser's figures. */
async function browserFigures(plan) {
  const worker = new Worker(new URL('../../www/worker.js', location.href), { type: 'module' });
  const queue = [];
  let failure = null;
  let wake = () => {};
  worker.onerror = (e) => { failure = new Error(`worker error: ${e.message}`); wake(); };
  worker.onmessage = (e) => {
    const event = JSON.parse(e.data);
    if (['crashed', 'error', 'model_error'].includes(event.type)) failure = new Error(`${event.type}: ${event.message}`);
    queue.push(event);
    wake();
  };
  // The first queued event that matches (and every event before it leaves the queue).
  const until = async (match, what) => {
    const deadline = performance.now() + 600_000;
    for (;;) {
      if (failure) throw failure;
      const index = queue.findIndex(match);
      if (index >= 0) return queue.splice(0, index + 1)[index];
      if (performance.now() > deadline) throw new Error(`no ${what} within 10 minutes`);
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 1000); });
    }
  };
  const send = (request) => worker.postMessage(JSON.stringify(request));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const timed = async (run) => {
    await run();
    const times = [];
    for (let k = 0; k < plan.repeats; k += 1) times.push(await run());
    return median(times);
  };
  let id = 0;

  const backend = (await until((e) => e.type === 'ready', 'ready')).backend.kind;
  await until((e) => e.type === 'model_ready' && e.model === 'embedder', 'MiniLM');
  const generate = (n) => timed(async () => {
    id += 1;
    send({ type: 'generate', id, prompt: plan.prompt, params: { ...plan.generate, n } });
    const done = await until((e) => e.type === 'generation_done' && e.id === id, 'generation');
    if (done.tokens !== n * plan.generate.max_tokens) throw new Error(`${done.tokens} tokens, not ${n * plan.generate.max_tokens}`);
    return done.millis / 1000 / done.tokens; // seconds per token: the median of rates is its inverse
  });
  const batch1 = 1 / await generate(1);
  const batch4 = 1 / await generate(4);

  const setup = (evalEvery) => ({
    methods: ['ddpo'], pairs_per_step: 2, data: plan.set,
    eval: { ...plan.eval, every: evalEvery }, probe: { every: 0, prompts: 1 },
  });
  id += 1;
  send({ type: 'train_start', id, setup: setup(0) });
  const ready = await until((e) => e.type === 'train_ready' && e.id === id, 'train_ready');
  if (ready.pairs[0] !== 2) throw new Error(`the lane has ${ready.pairs[0]} pairs, not 2`);
  await until((e) => e.type === 'train_idle' && e.id === id, 'set-up');
  send({ type: 'train_run', id, steps: plan.repeats + 1 });
  const steps = [];
  for (let k = 0; k <= plan.repeats; k += 1) steps.push((await until((e) => e.type === 'train_step' && e.id === id, 'train_step')).millis);
  const memory = (await until((e) => e.type === 'train_idle' && e.id === id, 'train_idle')).memory_bytes;
  const laneStep = median(steps.slice(1)) / 1000; // step 1 is the warm-up

  const evaluation = await timed(async () => {
    id += 1;
    send({ type: 'train_start', id, setup: setup(1) });
    const scored = await until((e) => e.type === 'train_eval' && e.id === id && e.lane === null, 'evaluation');
    await until((e) => e.type === 'train_idle' && e.id === id, 'set-up');
    return scored.millis / 1000;
  });

  const embed = await timed(async () => {
    id += 1;
    const started = performance.now();
    send({ type: 'embed', id, texts: plan.sentences });
    await until((e) => e.type === 'embeddings' && e.id === id, 'embeddings');
    return (performance.now() - started) / 1000;
  });
  worker.terminate();
  return {
    backend,
    tokens_per_second_batch_1: batch1,
    tokens_per_second_batch_4: batch4,
    lane_step_seconds: laneStep,
    eval_seconds: evaluation,
    sentences_per_second: plan.sentences.length / embed,
    memory_mb: memory / 1e6,
  };
}

test('the lesson\'s figures: the page\'s CPU path beside the native CLI', { skip: process.env.DEVIATE_E2E_BENCH !== '1', timeout: 7_200_000 }, async () => {
  const native = JSON.parse(execFileSync(BIN, ['bench', 'lesson', '--json', '--repeats', String(REPEATS)], { cwd: ROOT, encoding: 'utf8' }));
  const browser = await launch({ webgpu: false });
  let page;
  try {
    page = await workerHost(browser, server);
    const plan = { ...native, repeats: REPEATS };
    const figures = await page.evaluate(browserFigures, plan);
    assert.equal(figures.backend, 'cpu');
    const rows = [
      ['greedy batch 1 (tokens/s)', 'tokens_per_second_batch_1', true],
      ['greedy batch 4 (tokens/s)', 'tokens_per_second_batch_4', true],
      ['DDPO lane-step, 2 pairs (s)', 'lane_step_seconds', false],
      ['evaluation, base model (s)', 'eval_seconds', false],
      ['MiniLM (sentences/s)', 'sentences_per_second', true],
    ];
    const table = rows.map(([label, key, higherIsBetter]) => {
      const [b, n] = [figures[key], native[key]];
      assert.ok(Number.isFinite(b) && b > 0 && Number.isFinite(n) && n > 0, `${key}: browser ${b}, native ${n}`);
      // How many times slower the page is than native code.
      return { figure: label, browser: +b.toFixed(3), native: +n.toFixed(3), slower: +(higherIsBetter ? n / b : b / n).toFixed(2) };
    });
    console.log(`# median of ${REPEATS} after a warm-up; worker wasm memory after the lane-steps: ${figures.memory_mb.toFixed(0)} MB`);
    for (const row of table) console.log(`# ${row.figure.padEnd(30)} page ${String(row.browser).padStart(8)}  native ${String(row.native).padStart(8)}  page is ${row.slower}× slower`);
    writeFileSync(path.join(OUT, 'bench.json'), JSON.stringify({ repeats: REPEATS, memory_mb: figures.memory_mb, table }, null, 2));
  } finally {
    await browser.close();
  }
});
