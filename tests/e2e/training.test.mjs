// The Training panel on the CPU path (the full-size LM): set up DPO and DDPO lanes on the toy
// set, take two steps, and see each lane's loss and reward margin update (at step 1 the policy
// equals the reference, so DPO's margin is 0; after an update it is not), with the formula's
// numbers filled in and no console errors. Prints the browser step time as a figure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, launch, watchErrors, OUT } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('two DPO and DDPO steps in the page update loss and margins', { timeout: 1_200_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url);
    await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: 300_000 });
    // Two pairs a step: a DDPO pair whose chosen response is the prompt's least deviating one
    // has weight 0 and teaches nothing, as the paper intends.
    await page.getByTestId('train-pairs').fill('2');
    await page.getByTestId('train-pairs').dispatchEvent('change');
    await page.getByTestId('train-setup').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=lane]').length === 2, null, { timeout: 600_000 });
    const methods = await page.$$eval('[data-testid=lane]', (lanes) => lanes.map((l) => l.dataset.method));
    assert.deepEqual(methods, ['dpo', 'ddpo']);

    for (const step of [1, 2]) {
      await page.getByTestId('train-step').click();
      await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid=lane]')]
        .every((l) => l.querySelectorAll('[data-testid=train-row]').length === n)
        && !document.querySelector('[data-testid=train-step]').disabled, step, { timeout: 600_000 });
    }
    const lanes = await page.$$eval('[data-testid=lane]', (lanes) => lanes.map((l) => ({
      loss: [...l.querySelectorAll('[data-testid=train-loss]')].map((c) => Number(c.textContent)).reverse(),
      margin: [...l.querySelectorAll('[data-testid=train-margin]')].map((c) => Number(c.textContent)).reverse(),
      formula: l.querySelector('[data-testid=formula]').textContent,
      time: l.querySelector('.hint').textContent,
    })));
    for (const [i, lane] of lanes.entries()) {
      console.log(`# ${methods[i]}: losses ${lane.loss}, margins ${lane.margin}, ${lane.time}`);
      assert.equal(lane.loss.length, 2);
      assert.ok(lane.loss.every(Number.isFinite) && lane.margin.every(Number.isFinite));
      assert.ok(Math.abs(lane.margin[0]) < 1e-4, 'at the first step the policy is the reference');
      assert.ok(Math.abs(lane.margin[1]) > 1e-4, `the margin did not move after an update: ${lane.margin}`);
      assert.ok(Math.abs(lane.loss[1] - lane.loss[0]) > 1e-4, `the loss did not change: ${lane.loss}`);
      assert.match(lane.formula, /log σ\(/);
    }
    // DPO's first loss is log 2 exactly (policy = reference).
    assert.ok(Math.abs(lanes[0].loss[0] - Math.LN2) < 1e-3, String(lanes[0].loss[0]));
    const status = await page.getByTestId('train-status').textContent();
    assert.match(status, /^2 steps per lane done; worker memory \d+ MB\.$/);
    console.log(`# ${status}`);
    await page.screenshot({ path: path.join(OUT, 'training-cpu.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
