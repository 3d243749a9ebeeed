// The Generate panel on the CPU path (the full-size LM; SwiftShader's WebGPU path is checked on
// the reference prompt in smollm2.test.mjs): 4 seeded continuations stream in, their deviations
// appear in the bars, a reload with the same seed gives the same texts, and Stop ends a run early.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, launch, watchErrors, OUT } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function generate(page, { seed, maxTokens }) {
  await page.getByTestId('gen-seed').fill(String(seed));
  await page.getByTestId('gen-seed').dispatchEvent('change');
  await page.getByTestId('gen-max').fill(String(maxTokens));
  await page.getByTestId('gen-max').dispatchEvent('change');
  await page.getByTestId('generate').click();
}

async function finishedTexts(page) {
  await page.waitForFunction(() => {
    const items = [...document.querySelectorAll('[data-testid=continuation]')];
    return items.length === 4 && items.every((i) => i.dataset.finish !== 'running')
      && document.querySelector('[data-testid=generate]')?.disabled === false;
  }, null, { timeout: 600_000 });
  return page.$$eval('[data-testid=continuation] .cont-text', (els) => els.map((e) => e.textContent));
}

test('the page generates 4 seeded continuations, shows their deviations, and repeats them on reload', { timeout: 1_200_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url);
    await generate(page, { seed: 11, maxTokens: 24 });
    const first = await finishedTexts(page);
    assert.equal(first.length, 4);
    assert.ok(first.every((t) => t.trim().length > 0), `empty continuation in ${JSON.stringify(first)}`);
    assert.ok(new Set(first).size > 1, 'four identical continuations');
    const summary = await page.getByTestId('gen-summary').textContent();
    assert.match(summary, /^Done: \d+ tokens in [\d.]+ s \([\d.]+ tokens\/s\)\.$/);
    console.log(`# CPU path, 4 × 24 tokens: ${summary}`);
    // The finished continuations are the responses the deviation panel analyses.
    await page.waitForFunction((texts) => {
      const rows = [...document.querySelectorAll('[data-testid=bar] .bar-text')];
      return rows.length === texts.length && rows.every((r, i) => r.title === texts[i].split(/\s+/).filter(Boolean).join(' '));
    }, first, { timeout: 120_000 });
    const deviations = await page.$$eval('[data-testid=bar]', (rows) => rows.map((r) => Number(r.dataset.deviation)));
    assert.equal(deviations.length, 4);
    assert.ok(deviations.every((d) => Number.isFinite(d) && d >= 0 && d <= 1), String(deviations));
    await page.screenshot({ path: path.join(OUT, 'generate-cpu.png'), fullPage: true });

    await page.reload();
    await generate(page, { seed: 11, maxTokens: 24 });
    assert.deepEqual(await finishedTexts(page), first, 'the same seed gave different texts after a reload');

    // Stop: a long run ends early, every continuation marked cancelled or finished.
    await generate(page, { seed: 12, maxTokens: 400 });
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=continuation] .cont-text')]
      .some((e) => e.textContent.length > 0), null, { timeout: 300_000 });
    await page.getByTestId('stop').click();
    await page.waitForFunction(() => /^Stopped:/.test(document.querySelector('[data-testid=gen-summary]')?.textContent ?? ''),
      null, { timeout: 300_000 });
    const states = await page.$$eval('[data-testid=continuation]', (els) => els.map((e) => e.dataset.finish));
    assert.ok(states.includes('cancelled'), String(states));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
