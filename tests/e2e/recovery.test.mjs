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

test('WebGPU (SwiftShader): left for the CPU path unless forced; a lost worker is replaced on the CPU path, the reason on the badge', { timeout: 900_000 }, async () => {
  const browser = await launch({ webgpu: true });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    // A software adapter (SwiftShader here) is left for the CPU path, with the reason on the badge…
    await page.goto(server.url);
    await page.waitForSelector('[data-testid=backend][data-backend=cpu]', { timeout: LOAD_TIMEOUT });
    assert.match(await page.getByTestId('backend').textContent(), /CPU \(the WebGPU adapter google \/ swiftshader is software, slower than the CPU path; \?gpu=force in the address uses it\)/);
    // …unless the address forces it.
    await page.goto('about:blank');
    await page.goto(`${server.url}?gpu=force`);
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

// A panic on the page thread (not the worker's) shows a notice with a Reload button, focused;
// stored data is untouched, and the reload opens it.
test('CPU path: a panic on the page thread offers a reload and keeps stored data', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url, { timeout: 120_000 });
    const texts = 'The sea was calm.\nA dragon ate the moon.';
    await page.getByTestId('responses').fill(texts);
    await page.waitForFunction(() => (localStorage.getItem('deviate.v1') ?? '').includes('A dragon ate the moon.'), null, { timeout: 10_000 });
    const stored = await page.evaluate(() => localStorage.getItem('deviate.v1'));
    // The page's own wasm module (the one main.js started), asked to panic.
    const thrown = await page.evaluate(async () => {
      const main = document.querySelector('script[type=module]').src;
      const wasm = await import(new URL('../pkg/deviate.js', main).href);
      try { wasm.panicForTest(); return 'no panic'; } catch (e) { return String(e); }
    });
    assert.match(thrown, /unreachable/);
    const notice = page.getByTestId('page-panic');
    await notice.waitFor({ timeout: 10_000 });
    assert.match(await notice.textContent(), /^The page stopped working \(.*a test asked the page to panic\)\. Your saved work is kept: reload the page to go on\.Reload$/);
    assert.equal(await notice.getAttribute('role'), 'alert');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Reload');
    assert.equal(await page.evaluate(() => localStorage.getItem('deviate.v1')), stored);
    await Promise.all([page.waitForEvent('load', { timeout: 120_000 }), page.keyboard.press('Enter')]);
    await page.getByTestId('responses').waitFor({ timeout: 60_000 });
    assert.equal(await page.getByTestId('responses').inputValue(), texts);
    assert.equal(await page.getByTestId('page-panic').count(), 0);
    assert.deepEqual(errors.filter((e) => !/asked the page to panic|unreachable/.test(e)), []);
  } finally {
    await browser.close();
  }
});
