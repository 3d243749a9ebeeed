// A worker that dies is replaced (CPU path): one that crashes (an uncaught error reaches the
// page) and one that goes silent (closed from inside, so only the heartbeat notices). Each time
// the page says so, a new worker loads the models from the cache, the responses are analysed
// again, and a generation then succeeds. On WebGPU (SwiftShader) a lost worker is replaced by one
// on the CPU path, with the reason on the badge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, watchErrors } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const LOAD_TIMEOUT = 300_000;
// What the simulated failures themselves log is expected; anything else is an error.
const unexpected = (errors) => errors.filter((e) => !/simulated crash/.test(e));

/** Waits for the page's notice about its worker to match `pattern`, then dismisses it. */
async function waitForNotice(page, pattern, timeout) {
  const text = () => document.querySelector('[data-testid=worker-notice]')?.textContent ?? '';
  await page.waitForFunction((source) => new RegExp(source).test(document.querySelector('[data-testid=worker-notice]')?.textContent ?? ''),
    pattern.source, { timeout })
    .catch(async (e) => { throw new Error(`${e.message}; notice: ${await page.evaluate(text)}`); });
  await page.getByTestId('worker-notice').getByRole('button', { name: 'Dismiss' }).click();
}

async function analysed(page, texts) {
  await page.getByTestId('responses').fill(texts.join('\n'));
  await page.waitForFunction((texts) => {
    const rows = [...document.querySelectorAll('[data-testid=bar] .bar-text')];
    return rows.length === texts.length && rows.every((r, i) => r.title === texts[i]);
  }, texts, { timeout: 120_000 });
}

/** Runs `kill` in the page's current worker and resolves to the worker that replaces it. */
async function replaceWorker(page, kill) {
  const next = page.waitForEvent('worker', { timeout: 120_000 });
  const current = page.workers().at(-1);
  await current.evaluate(kill);
  return next;
}

test('CPU path: a crashed or silent worker is replaced and the page goes on', { timeout: 1_200_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url);
    await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: LOAD_TIMEOUT });
    await analysed(page, ['The sea was calm.', 'The sea was calm today.', 'A dragon ate the moon.']);

    await replaceWorker(page, () => { setTimeout(() => { throw new Error('simulated crash'); }); });
    await waitForNotice(page, /The worker stopped \(it failed: .*simulated crash\); a new one started/, 60_000);
    await page.waitForSelector('[data-testid=model-state][data-state=ready][data-cached=true]', { timeout: LOAD_TIMEOUT });
    await analysed(page, ['One fish.', 'Two fish.', 'A red fish in the sea.']);

    // Closed from inside: no error event, only silence; the heartbeat allows 20 s when idle.
    const started = Date.now();
    await replaceWorker(page, () => { setTimeout(() => self.close()); });
    await waitForNotice(page, /The worker stopped \(it did not answer for \d+ s\)/, 90_000);
    console.log(`# a silent worker was replaced after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await page.waitForSelector('[data-testid=model-state][data-state=ready][data-cached=true]', { timeout: LOAD_TIMEOUT });

    // A generation then succeeds on the new worker (the LM loads from the cache).
    await page.getByTestId('gen-n').fill('2');
    await page.getByTestId('gen-n').dispatchEvent('change');
    await page.getByTestId('gen-max').fill('4');
    await page.getByTestId('gen-max').dispatchEvent('change');
    await page.getByTestId('generate').click();
    await page.waitForFunction(() => /^Done:/.test(document.querySelector('[data-testid=gen-summary]')?.textContent ?? ''),
      null, { timeout: LOAD_TIMEOUT });
    assert.equal(await page.locator('[data-testid=continuation]').count(), 2);
    assert.deepEqual(unexpected(errors), []);
  } finally {
    await browser.close();
  }
});

test('WebGPU (SwiftShader): a lost worker is replaced on the CPU path, the reason on the badge', { timeout: 900_000 }, async () => {
  const browser = await launch({ webgpu: true });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url);
    await page.waitForSelector('[data-testid=backend][data-backend=webgpu]', { timeout: LOAD_TIMEOUT });
    await replaceWorker(page, () => { setTimeout(() => { throw new Error('simulated crash'); }); });
    await page.waitForSelector('[data-testid=backend][data-backend=cpu]', { timeout: LOAD_TIMEOUT });
    assert.match(await page.getByTestId('backend').textContent(), /CPU \(the WebGPU worker was lost: it failed: .*simulated crash\)/);
    await waitForNotice(page, /It runs on the CPU from now on\./, 10_000);
    await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: LOAD_TIMEOUT });
    await analysed(page, ['The sea was calm.', 'A dragon ate the moon.', 'The sea was calm today.']);
    assert.deepEqual(unexpected(errors), []);
  } finally {
    await browser.close();
  }
});
