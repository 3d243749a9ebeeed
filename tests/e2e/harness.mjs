// Shared e2e plumbing: the static server of `make serve` (scripts/serve.py), Debian's Chromium through playwright-core,
// and the CLI as the oracle the page's numbers are compared with.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = process.env.DEVIATE_BIN
  ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'debug', 'deviate');
export const OUT = path.join(ROOT, 'test-output', 'e2e');
mkdirSync(OUT, { recursive: true });

/** Starts `scripts/serve.py --port 0` (what `make serve` runs) and resolves to { url, stop }. */
export function startServer() {
  const child = spawn('python3', [path.join(ROOT, 'scripts/serve.py'), '--port', '0', '--root', ROOT], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  // The pipe stays open and drained for the server's whole life (closing it early could fail a
  // later write of the server's).
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const match = buffered.match(/at (http:\/\/\S+)\n/);
      if (match) {
        buffered = ''; // later output (there is none) could not match a second time
        resolve({
          url: match[1],
          stop: async () => { if (child.exitCode === null && child.signalCode === null) child.kill(); await exited; },
        });
      }
    });
    exited.then(() => reject(new Error(`scripts/serve.py exited before serving: ${buffered}`)));
  });
}

// Flags for a quiet, closed-network headless Chromium (see the env notes on this machine).
const BASE_ARGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

/** Launches Debian's Chromium, with WebGPU on SwiftShader when `webgpu` is true. */
export function launch({ webgpu }) {
  const args = webgpu ? [...BASE_ARGS, '--enable-unsafe-webgpu'] : BASE_ARGS;
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args });
}

/**
 * Opens a blank same-origin page (no app, no service worker) for a test that drives
 * www/worker.js itself, so only the test's worker runs in the browser. The page gets
 * `workerSession(onEvent, idleMs)`: a worker whose every event goes to `onEvent(event, worker)`,
 * which returns a value to resolve with (undefined to go on). It rejects on an error event, a
 * crash, an error or model error, or `idleMs` without any event, naming the last event seen, so
 * a stuck worker fails with a reason instead of at the test's timeout.
 */
export async function workerHost(browser, server) {
  const page = await browser.newPage();
  await page.goto(new URL('tests/e2e/worker-host.html', server.url).href);
  await page.evaluate(() => {
    window.workerSession = (onEvent, idleMs) => new Promise((resolve, reject) => {
      // Forced: a browser launched with WebGPU has only SwiftShader, which the page leaves for the CPU path.
      const worker = new Worker(new URL('../../www/worker.js?gpu=force', location.href), { type: 'module' });
      let last = 'none';
      let timer;
      const end = (settle, value) => { clearTimeout(timer); worker.terminate(); settle(value); };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => end(reject, new Error(`no event from the worker for ${idleMs} ms; the last was ${last}`)), idleMs);
      };
      worker.onerror = (e) => end(reject, new Error(`worker error: ${e.message}`));
      worker.onmessage = (e) => {
        const event = JSON.parse(e.data);
        last = event.model ? `${event.type} (${event.model})` : event.type;
        arm();
        if (['crashed', 'error', 'model_error'].includes(event.type)) return end(reject, new Error(`${event.type}: ${event.message}`));
        const value = onEvent(event, worker);
        if (value !== undefined) end(resolve, value);
      };
      arm();
    });
  });
  return page;
}

/** The CLI's answer for one prompt's responses. */
export function cliDeviation(responses, similarity = 'jaccard') {
  const input = JSON.stringify({ prompt: 'e2e', responses }) + '\n';
  const out = execFileSync(BIN, ['deviation', '--similarity', similarity], { input, encoding: 'utf8', cwd: ROOT });
  return JSON.parse(out.trim());
}

/**
 * Asserts that the page's deviation weights are the CLI's within `tol`. Responses whose CLI
 * deviations lie within `tie` of another's may trade places in the weighting on another backend
 * (f32 sums in another order), so those are compared as a set: the sorted weights must match.
 */
export function assertWeightsMatch(shown, cli, { tol = 2e-3, tie = 2e-4 } = {}) {
  assert.equal(shown.length, cli.weight.length);
  const tied = (i) => cli.deviation.some((d, j) => j !== i && Math.abs(d - cli.deviation[i]) < tie);
  shown.forEach((row, i) => {
    if (!tied(i)) assert.ok(Math.abs(row.weight - cli.weight[i]) <= tol, `weight ${i}: ${row.weight} vs ${cli.weight[i]}`);
  });
  const sorted = (xs) => [...xs].sort((a, b) => a - b);
  const [ours, theirs] = [sorted(shown.map((r) => r.weight)), sorted(cli.weight)];
  ours.forEach((w, k) => assert.ok(Math.abs(w - theirs[k]) <= tol, `sorted weight ${k}: ${w} vs ${theirs[k]}`));
}

/** Collects the page's console errors so a test can assert there were none. */
export function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return errors;
}

/** Types `responses` and waits for the worker's analysis of them with `kind`; returns the bars' numbers. */
export async function pageNumbers(page, responses, kind, timeout = 60_000) {
  await page.getByTestId('responses').fill(responses.join('\n'));
  await page.waitForFunction(([texts, kind]) => {
    const list = document.querySelector('[data-testid=bars]');
    const rows = [...document.querySelectorAll('[data-testid=bar] .bar-text')];
    return list?.dataset.kind === kind && rows.length === texts.length && rows.every((r, i) => r.title === texts[i]);
  }, [responses, kind], { timeout });
  return page.$$eval('[data-testid=bar]', (rows) => rows.map((r) => ({
    deviation: Number(r.dataset.deviation), weight: Number(r.dataset.weight),
  })));
}

/** Sets a field as a person does: types the value, then leaves the field. */
export async function setField(page, id, value) {
  await page.getByTestId(id).fill(String(value));
  await page.getByTestId(id).dispatchEvent('change');
}

/** Clicks Generate and returns the finished texts and the deviations of the bars for them. */
export async function generateAndMeasure(page, n) {
  await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: 600_000 });
  await page.getByTestId('generate').click();
  await page.waitForFunction((n) => {
    const items = [...document.querySelectorAll('[data-testid=continuation]')];
    return items.length === n && items.every((i) => i.dataset.finish !== 'running')
      && document.querySelector('[data-testid=generate]')?.disabled === false;
  }, n, { timeout: 1_200_000 });
  const texts = await page.$$eval('[data-testid=continuation] .cont-text', (els) => els.map((e) => e.textContent));
  await page.waitForFunction((texts) => {
    const rows = [...document.querySelectorAll('[data-testid=bar] .bar-text')];
    return document.querySelector('[data-testid=bars]')?.dataset.kind === 'semantic' && rows.length === texts.length
      && rows.every((r, i) => r.title === texts[i].split(/\s+/).filter(Boolean).join(' '));
  }, texts, { timeout: 600_000 });
  const deviations = await page.$$eval('[data-testid=bar]', (rows) => rows.map((r) => r.dataset.deviation));
  return { texts, deviations };
}

/** axe-core's serious and critical WCAG 2 A/AA violations on `page` as it is now (none expected):
 * each as "rule: target (impact)". */
export async function accessibilityProblems(page) {
  // Evaluated through the debugging protocol: the page's CSP (rightly) refuses injected scripts.
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(readFileSync(path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8'));
  const result = await page.evaluate(() => globalThis.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  assert.ok(result.passes.length > 10, `axe-core ran ${result.passes.length} rules`);
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')} (${v.impact}) ${n.failureSummary?.split('\n')[1] ?? ''}`));
}
