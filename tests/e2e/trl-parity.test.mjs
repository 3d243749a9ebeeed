// The page trains as TRL + peft train, on the CPU path: a DDPO and a DORPO lane set up as the
// parity run of tests/trl_parity.rs (pairs of seed 0, 2 a step, lr 5e-4), loaded with its start
// adapters (drawn by peft), take 3 steps whose loss, reward margin and gradient norm are TRL's
// as recorded in tests/reference/trl_parity.json, within the tolerances the native test uses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, launch, watchErrors, BIN, ROOT } from './harness.mjs';

const REFERENCE = JSON.parse(readFileSync(path.join(ROOT, 'tests/reference/trl_parity.json'), 'utf8'));
const START = path.join(ROOT, 'tests/reference/trl_parity_start.safetensors');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** Every step row of lane `method`, oldest first: exact loss, margin and gradient norm. */
async function rows(page, method) {
  return page.evaluate((method) => {
    const lane = document.querySelector(`[data-testid=lane][data-method=${method}]`);
    const value = (row, id) => Number(row.querySelector(`[data-testid=${id}]`).dataset.value);
    return [...lane.querySelectorAll('[data-testid=train-row]')].reverse()
      .map((r) => ({ loss: value(r, 'train-loss'), margin: value(r, 'train-margin'), grad_norm: value(r, 'train-grad-norm') }));
  }, method);
}

test('CPU path: DDPO and DORPO lanes from peft\'s adapters take TRL\'s steps', { timeout: 1_800_000 }, async () => {
  const { settings } = REFERENCE;
  const spec = JSON.stringify({
    train: { methods: ['ddpo', 'dorpo'], pairs_per_step: settings.pairs_per_step, eval: { every: 0 }, probe: { every: 0 },
      train: { seed: settings.seed, learning_rate: settings.learning_rate } },
    panel: 'training',
  });
  const link = execFileSync(BIN, ['link', 'encode', '--base', server.url], { input: spec, encoding: 'utf8', cwd: ROOT }).trim();
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(link);
    await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: 300_000 });
    await page.getByTestId('train-setup').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=lane]').length === 2
      && !document.querySelector('[data-testid=train-step]').disabled, null, { timeout: 600_000 });
    for (const method of ['ddpo', 'dorpo']) {
      await page.locator(`#adapters-${method}`).setInputFiles(START);
      await page.waitForFunction((method) => /Adapters loaded/.test(
        document.querySelector(`[data-testid=lane][data-method=${method}] [data-testid=adapters-note]`)?.textContent ?? ''), method);
    }
    for (let step = 1; step <= settings.steps; step++) {
      await page.getByTestId('train-step').click();
      await page.waitForFunction((step) => [...document.querySelectorAll('[data-testid=lane]')]
        .every((l) => l.querySelectorAll('[data-testid=train-row]').length === step)
        && !document.querySelector('[data-testid=train-step]').disabled, step, { timeout: 600_000 });
    }
    for (const method of ['ddpo', 'dorpo']) {
      const got = await rows(page, method);
      const want = REFERENCE[method].steps;
      assert.equal(got.length, want.length);
      got.forEach((g, i) => {
        const w = want[i];
        console.log(`# ${method} step ${w.step}: loss page ${g.loss.toFixed(6)} / TRL ${w.loss.toFixed(6)}, margin ${g.margin.toFixed(6)} / ${w.margin.toFixed(6)}, grad norm ${g.grad_norm.toFixed(6)} / ${w.grad_norm.toFixed(6)}`);
        assert.ok(Math.abs(g.loss - w.loss) <= 1e-4 * Math.abs(w.loss), `${method} step ${w.step}: loss ${g.loss} vs TRL's ${w.loss}`);
        assert.ok(Math.abs(g.margin - w.margin) <= 1e-4 * Math.abs(w.margin) + 2e-5, `${method} step ${w.step}: margin ${g.margin} vs ${w.margin}`);
        assert.ok(Math.abs(g.grad_norm - w.grad_norm) <= 1e-3 * w.grad_norm, `${method} step ${w.step}: grad norm ${g.grad_norm} vs ${w.grad_norm}`);
      });
    }
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
