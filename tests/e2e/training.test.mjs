// The Training panel on WebGPU (SwiftShader), timed: an opt-in figure (DEVIATE_E2E_BENCH=1).
// The CPU path's training view (loss, margins, formula, held-out scores against the CLI) is
// checked in lesson.test.mjs, the settings and adapters in settings.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, watchErrors } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

// DEVIATE_E2E_BENCH=1: one DDPO step of one pair on WebGPU (SwiftShader), evaluation off. A
// figure to report (it takes many minutes on SwiftShader), not a check CI runs.
test('one DDPO step on WebGPU (SwiftShader): step time', { skip: process.env.DEVIATE_E2E_BENCH !== '1', timeout: 3_600_000 }, async () => {
  const browser = await launch({ webgpu: true });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(`${server.url}?gpu=force`); // SwiftShader is used only when forced
    await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: 600_000 });
    await page.getByTestId('train-dpo').uncheck();
    for (const [id, value] of [['train-pairs', '1'], ['train-eval', '0']]) {
      await page.getByTestId(id).fill(value);
      await page.getByTestId(id).dispatchEvent('change');
    }
    await page.getByTestId('train-setup').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=lane]').length === 1
      && !document.querySelector('[data-testid=train-step]').disabled, null, { timeout: 1_800_000 });
    await page.getByTestId('train-step').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=train-row]').length === 1
      && !document.querySelector('[data-testid=train-step]').disabled, null, { timeout: 3_000_000 });
    const time = await page.$eval('[data-testid=lane] .hint', (e) => e.textContent);
    console.log(`# SwiftShader DDPO, 1 pair: ${time}; ${await page.getByTestId('train-status').textContent()}`);
    assert.match(time, /last step [\d.]+ s/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
