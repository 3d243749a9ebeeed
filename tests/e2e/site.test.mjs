// The published site (`make site`) as a static host serves it: Python's plain `http.server`
// (no MIME or header help from us) serves site/ under the sub-path /deviate/, as GitHub Pages
// serves a project site at /<repo>/. On the CPU path the page loads its content-hashed files,
// generates, and its share link (built from where the page is served) reproduces the texts in
// a fresh context; no request fails and nothing is logged as an error. Builds nothing itself:
// `make test` builds site/ before the e2e tests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launch, watchErrors, setField, generateAndMeasure, ROOT } from './harness.mjs';

const SITE = path.join(ROOT, 'site');
const SUB_PATH = '/deviate/';

let server;
before(async () => {
  assert.ok(existsSync(path.join(SITE, 'index.html')), 'site/ is missing: run `make site`');
  const parent = mkdtempSync(path.join(tmpdir(), 'deviate-site-'));
  symlinkSync(SITE, path.join(parent, 'deviate'));
  const child = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', parent],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = once(child, 'exit');
  // The whole first line, and the pipe left open: Python prints the line in two writes, and a
  // pipe closed between them kills the server (EPIPE on the newline).
  const port = await new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const line = buffered.match(/port (\d+) .*\n/);
      if (line) resolve(line[1]);
    });
    child.on('exit', () => reject(new Error(`http.server exited before serving: ${buffered}`)));
  });
  const stop = async () => { if (child.exitCode === null) child.kill(); await exited; rmSync(parent, { recursive: true }); };
  server = { url: `http://127.0.0.1:${port}${SUB_PATH}`, stop };
});
after(async () => { await server?.stop(); });

/** Every response of `context` with an error status, and every request that failed. */
function watchRequests(context) {
  const failed = [];
  context.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  context.on('requestfailed', (r) => failed.push(`${r.failure()?.errorText} ${r.url()}`));
  return failed;
}

test('the built site works from a sub-path of a plain static server; its share link travels', { timeout: 900_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext();
    const failed = watchRequests(context);
    const requested = [];
    context.on('request', (r) => requested.push(r.url()));
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url);
    await setField(page, 'gen-n', 2);
    await setField(page, 'gen-max', 8);
    await setField(page, 'gen-seed', 5);
    const first = await generateAndMeasure(page, 2);

    const link = await page.getByTestId('share-url').inputValue();
    console.log(`# a link of the page served at ${server.url}: ${link}`);
    assert.ok(link.startsWith(`${server.url}#x=2.`), `the link starts where the page is served: ${link}`);
    const hashed = (name) => requested.some((url) => new RegExp(`${SUB_PATH}${name}$`).test(new URL(url).pathname));
    for (const name of ['www/main\\.[0-9a-f]{12}\\.js', 'www/worker\\.[0-9a-f]{12}\\.js', 'pkg/deviate_bg\\.[0-9a-f]{12}\\.wasm']) {
      assert.ok(hashed(name), `the page loaded ${name}`);
    }
    assert.deepEqual(requested.filter((url) => !new URL(url).pathname.startsWith(SUB_PATH) && url.startsWith('http')), [],
      'nothing is requested outside the sub-path');
    const caches = await page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      return { scope: registration.scope, names: await caches.keys() };
    });
    assert.equal(caches.scope, server.url);
    assert.ok(caches.names.some((n) => /^deviate-app-[0-9a-f]{12}$/.test(n)), `the shell's cache is named after the build: ${caches.names}`);

    const fresh = await browser.newContext();
    const failedFresh = watchRequests(fresh);
    const other = await fresh.newPage();
    const otherErrors = watchErrors(other);
    await other.goto(link);
    assert.equal(await other.getByTestId('gen-seed').inputValue(), '5');
    const second = await generateAndMeasure(other, 2);
    assert.deepEqual(second, first);
    assert.deepEqual([...failed, ...failedFresh], [], 'no request failed');
    assert.deepEqual([...errors, ...otherErrors], []);
  } finally {
    await browser.close();
  }
});
