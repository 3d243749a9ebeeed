// Semantic deviation in the page: the worker downloads all-MiniLM-L6-v2 with a progress bar,
// caches it, and its deviations match the CLI's (same model, f32 on another backend) on
// WebGPU (SwiftShader) and on the CPU path; a reload reads the cache; a corrupt file is named.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, launch, cliDeviation, watchErrors, pageNumbers, assertWeightsMatch, OUT } from './harness.mjs';

const SENTENCES = [
  'A cat sat on the mat.',
  'A kitten was sitting on a rug.',
  'The stock market fell sharply today.',
  'A small cat rested on the carpet.',
];
const LOAD_TIMEOUT = 300_000;

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function waitForModel(page) {
  const state = page.getByTestId('model-state');
  await state.locator('xpath=self::*[@data-state="ready" or @data-state="failed"]').waitFor({ timeout: LOAD_TIMEOUT });
  assert.equal(await state.getAttribute('data-state'), 'ready', await state.textContent());
  return state;
}

for (const webgpu of [true, false]) {
  const name = webgpu ? 'WebGPU (SwiftShader)' : 'CPU path';
  test(`semantic deviation matches the CLI and the model is cached on ${name}`, { timeout: 2 * LOAD_TIMEOUT }, async () => {
    const browser = await launch({ webgpu });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const errors = watchErrors(page);
      const started = Date.now();
      await page.goto(webgpu ? `${server.url}?gpu=force` : server.url); // SwiftShader is used only when forced
      const state = await waitForModel(page);
      const coldMs = Date.now() - started;
      assert.equal(await state.getAttribute('data-cached'), 'false');

      const t0 = Date.now();
      const shown = await pageNumbers(page, SENTENCES, 'semantic', LOAD_TIMEOUT);
      const analyseMs = Date.now() - t0;
      const cli = cliDeviation(SENTENCES, 'semantic');
      shown.forEach((row, i) => {
        assert.ok(Math.abs(row.deviation - cli.deviation[i]) < 1e-4, `deviation ${i}: ${row.deviation} vs ${cli.deviation[i]}`);
      });
      assertWeightsMatch(shown, cli);
      const worst = shown.reduce((best, row, i) => (row.deviation > shown[best].deviation ? i : best), 0);
      assert.equal(worst, 2, 'the off-topic sentence deviates most');
      await page.screenshot({ path: path.join(OUT, `semantic-${webgpu ? 'webgpu' : 'cpu'}.png`), fullPage: true });

      const t1 = Date.now();
      await page.reload();
      const cachedState = await waitForModel(page);
      const warmMs = Date.now() - t1;
      assert.equal(await cachedState.getAttribute('data-cached'), 'true');
      console.log(`# ${name}: model cold load ${coldMs} ms, cached load ${warmMs} ms, first semantic analysis ${analyseMs} ms`);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
}

test('a corrupt model file is named and the Jaccard view keeps working', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    await page.route('**/models/tokenizer.json', (route) => route.fulfill({ status: 200, body: '{"not": "the tokenizer"}' }));
    await page.goto(server.url);
    const state = page.getByTestId('model-state');
    await state.locator('xpath=self::*[@data-state="failed"]').waitFor({ timeout: LOAD_TIMEOUT });
    assert.match(await state.textContent(), /tokenizer\.json/);
    const texts = ['one two three', 'two three four', 'five six'];
    const shown = await pageNumbers(page, texts, 'jaccard');
    assert.deepEqual(shown.map((r) => r.deviation), cliDeviation(texts).deviation);
  } finally {
    await browser.close();
  }
});
