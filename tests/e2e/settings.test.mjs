// Every training setting in the page, on the CPU path, in Debian's headless Chromium:
// - each control changes the share link (decoded by the CLI), a link that sets them all
//   restores every control in a fresh context, and an invalid value is marked, said and not
//   used (the link keeps the last valid value);
// - a DDPO step from a share link (written by the CLI) has the CLI's loss, and the same loss in
//   a fresh context; the run is in the learner's history after a reload;
// - a lane's adapters round trip: downloaded from the page after step 1, the CLI's `deviate
//   train --load` gives the page's step-2 loss on the same pairs; loaded back into a fresh lane,
//   the page's next loss is the CLI's for the same adapters and batch;
// - "Run this in TRL" downloads the lane's pairs (the CLI's), config (`deviate export-trl`'s) and adapters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launch, watchErrors, setField, BIN, ROOT } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** The training set-up the link carries, as the CLI decodes it. */
function linkedTrain(link) {
  return JSON.parse(execFileSync(BIN, ['link', 'decode', link], { encoding: 'utf8', cwd: ROOT })).train;
}

async function waitForNewLink(page, old) {
  await page.waitForFunction((old) => document.querySelector('[data-testid=share-url]').value !== old, old, { timeout: 10_000 });
  return page.getByTestId('share-url').inputValue();
}

// [field, value typed, where the link keeps it]
const NUMBERS = [
  ['train-pairs', '3', (t) => t.pairs_per_step],
  ['train-beta', '0.25', (t) => t.train.beta],
  ['train-lambda', '0.5', (t) => t.train.lambda],
  ['train-lr', '0.001', (t) => t.train.learning_rate],
  ['train-seed', '7', (t) => t.train.seed],
  ['train-rank', '4', (t) => t.train.lora.rank],
  ['train-alpha', '8', (t) => t.train.lora.alpha],
  ['train-gap', '2', (t) => t.gap],
  ['train-min-weight', '0.2', (t) => t.weighting.min_weight],
  ['train-eval', '3', (t) => t.eval.every],
  ['train-eval-prompts', '1', (t) => t.eval.prompts],
  ['train-eval-samples', '2', (t) => t.eval.samples],
  ['train-eval-tokens', '16', (t) => t.eval.tokens],
  ['train-probe', '4', (t) => t.probe.every],
];

test('CPU path: every training setting changes the link, a link restores it, an invalid value is refused', { timeout: 300_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url);
    await page.getByTestId('train-more').locator('summary').click();
    let link = await page.getByTestId('share-url').inputValue();
    for (const [id, value, where] of NUMBERS) {
      await setField(page, id, value);
      link = await waitForNewLink(page, link);
      assert.equal(String(where(linkedTrain(link))), value, `${id} in the link`);
      assert.equal(await page.getByTestId(id).getAttribute('aria-invalid'), 'false');
    }
    await page.getByTestId('train-target-k').check();
    link = await waitForNewLink(page, link);
    assert.deepEqual(linkedTrain(link).train.lora.targets, ['q', 'k', 'v']);
    await page.getByTestId('train-similarity').selectOption('style');
    link = await waitForNewLink(page, link);
    assert.equal(linkedTrain(link).weighting.similarity, 'style');

    // Invalid values: marked, said, not used.
    for (const [id, value] of [['train-beta', '-1'], ['train-rank', '65'], ['train-min-weight', '1.5'], ['train-eval-samples', '1']]) {
      await setField(page, id, value);
      assert.equal(await page.getByTestId(id).getAttribute('aria-invalid'), 'true', `${id} = ${value} is marked`);
      assert.notEqual((await page.getByTestId(`${id}-error`).textContent()).trim(), '', `${id} = ${value} says why`);
    }
    assert.equal(await page.getByTestId('share-url').inputValue(), link, 'refused values leave the link as it was');
    const kept = linkedTrain(link);
    assert.deepEqual([kept.train.beta, kept.train.lora.rank, kept.weighting.min_weight, kept.eval.samples], [0.25, 4, 0.2, 2]);
    // Unchecking every LoRA target: the last one is refused, the link keeps it.
    for (const target of ['q', 'k', 'v']) await page.getByTestId(`train-target-${target}`).uncheck();
    assert.notEqual((await page.getByTestId('train-targets-error').textContent()).trim(), '', 'no LoRA target is refused');
    const lastValid = await page.getByTestId('share-url').inputValue();
    assert.deepEqual(linkedTrain(lastValid).train.lora.targets, ['v']);
    for (const target of ['q', 'k']) await page.getByTestId(`train-target-${target}`).check();
    link = await waitForNewLink(page, lastValid);
    assert.deepEqual(linkedTrain(link).train.lora.targets, ['q', 'k']);
    assert.equal((await page.getByTestId('train-targets-error').textContent()).trim(), '', 'the error goes with a valid choice');

    // The link restores every control in a fresh context.
    const other = await (await browser.newContext()).newPage();
    const otherErrors = watchErrors(other);
    await other.goto(link);
    await other.getByTestId('train-more').locator('summary').click();
    for (const [id, value] of NUMBERS) assert.equal(await other.getByTestId(id).inputValue(), value, `${id} restored`);
    for (const [target, on] of [['q', true], ['k', true], ['v', false], ['o', false]]) {
      assert.equal(await other.getByTestId(`train-target-${target}`).isChecked(), on, `target ${target}`);
    }
    assert.equal(await other.getByTestId('train-similarity').inputValue(), 'style');
    assert.deepEqual([...errors, ...otherErrors], []);
  } finally {
    await browser.close();
  }
});

/** Clicks Step and waits until the lane shows `rows` steps and the panel is idle; returns the newest loss. */
async function stepTo(page, rows) {
  await page.getByTestId('train-step').click();
  await page.waitForFunction((rows) => document.querySelectorAll('[data-testid=train-row]').length === rows
    && !document.querySelector('[data-testid=train-step]').disabled, rows, { timeout: 600_000 });
  return Number(await page.getByTestId('train-loss').first().textContent());
}

async function setUp(page) {
  await page.getByTestId('train-setup').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=lane]').length === 1
    && document.querySelectorAll('[data-testid=train-row]').length === 0
    && !document.querySelector('[data-testid=train-step]').disabled, null, { timeout: 600_000 });
}

/** The CLI's loss for one step numbered `step` (from `adapters`, or fresh ones) with the link's set-up: DDPO, 1 pair, seed 4. */
function cliLoss(adapters, step) {
  const load = adapters ? ['--load', adapters] : [];
  const out = execFileSync(BIN, ['train', '--method', 'ddpo', '--pairs-per-step', '1', '--seed', '4', ...load,
    '--start-step', String(step), '--steps', '1'], { encoding: 'utf8', cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.trim().split('\n').pop()).loss;
}

/** A safetensors file's tensors by name, as hex (its header's key order may differ between writes). */
function tensors(bytes) {
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
  const data = bytes.subarray(8 + length);
  return Object.fromEntries(Object.entries(header).filter(([name]) => name !== '__metadata__').sort(([a], [b]) => a.localeCompare(b))
    .map(([name, t]) => [name, [t.dtype, t.shape, data.subarray(t.data_offsets[0], t.data_offsets[1]).toString('hex')]]));
}

/**
 * "Run this in TRL" on the link's lane after step 1: the zip holds the README, the pairs (the CLI's
 * `deviate pairs` for the link's method and seed), the lane's config (the same as `deviate
 * export-trl` writes for the link) and the adapters the lane just downloaded.
 */
async function checkTrlExport(page, link, adapters) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('trl-export').click()]);
  assert.equal(download.suggestedFilename(), 'deviate-trl-lane-1-ddpo.zip');
  const dir = mkdtempSync(path.join(tmpdir(), 'deviate-trl-'));
  const zip = path.join(dir, download.suggestedFilename());
  await download.saveAs(zip);
  const unpack = 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(chr(10).join(z.namelist())); z.extractall(sys.argv[2])';
  const names = execFileSync('python3', ['-c', unpack, zip, dir], { encoding: 'utf8' }).trim().split('\n').sort();
  const root = 'deviate-trl-lane-1-ddpo';
  assert.deepEqual(names, ['README.md', 'lane-1-ddpo/adapters.safetensors', 'lane-1-ddpo/lane.json', 'lane-1-ddpo/pairs.jsonl'].map((n) => `${root}/${n}`));
  const read = (name) => readFileSync(path.join(dir, root, name));
  const cliPairs = execFileSync(BIN, ['pairs', '--method', 'ddpo', '--seed', '4'], { encoding: 'utf8', cwd: ROOT }).trim().split('\n').map((l) => JSON.parse(l));
  const pagePairs = read('lane-1-ddpo/pairs.jsonl').toString().trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(pagePairs.length, cliPairs.length);
  pagePairs.forEach((p, i) => {
    const c = cliPairs[i];
    assert.deepEqual([p.prompt, p.chosen, p.rejected], [c.prompt, c.chosen, c.rejected], `pair ${i}`);
    assert.ok(Math.abs(p.weight - c.weight) <= 1e-4 && Math.abs(p.deviation_chosen - c.deviation_chosen) <= 1e-4, `pair ${i}: ${p.weight} vs ${c.weight}`);
  });
  const cliDir = mkdtempSync(path.join(tmpdir(), 'deviate-export-'));
  execFileSync(BIN, ['export-trl', '--link', link, '--out', cliDir], { cwd: ROOT, stdio: 'ignore' });
  const config = JSON.parse(read('lane-1-ddpo/lane.json'));
  const cliConfig = JSON.parse(readFileSync(path.join(cliDir, 'lane-1-ddpo/lane.json')));
  assert.deepEqual(config, cliConfig, 'the page\'s lane.json is the CLI\'s');
  assert.equal(config.adapters, 'adapters.safetensors');
  assert.equal(config.seed, 4);
  assert.equal(config.pairs_per_step, 1);
  assert.deepEqual(tensors(read('lane-1-ddpo/adapters.safetensors')), tensors(readFileSync(adapters)), 'the adapters as downloaded');
  assert.match(read('README.md').toString(), /accelerate launch examples\/trl_ddpo\.py --config lane-1-ddpo\/lane\.json/);
  await page.waitForFunction(() => /for TRL downloaded/.test(document.querySelector('[data-testid=train-status]').textContent));
}

test('CPU path: a DDPO step from a link is the CLI\'s, again in a fresh context; its adapters go to the CLI and back', { timeout: 1_800_000 }, async () => {
  const spec = JSON.stringify({ train: { methods: ['ddpo'], pairs_per_step: 1, eval: { every: 0 }, probe: { every: 0 }, train: { seed: 4 } }, panel: 'training' });
  const link = execFileSync(BIN, ['link', 'encode', '--base', server.url], { input: spec, encoding: 'utf8', cwd: ROOT }).trim();
  const browser = await launch({ webgpu: false });
  try {
    const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
    const errors = watchErrors(page);
    await page.goto(link);
    await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: 300_000 });
    assert.equal(await page.getByTestId('train-seed').inputValue(), '4');
    await setUp(page);
    const fresh = await stepTo(page, 1);
    const cliFresh = cliLoss(null, 1);
    console.log(`# DDPO step-1 loss from the link: page ${fresh}, CLI ${cliFresh}`);
    assert.ok(Math.abs(fresh - cliFresh) <= 2e-4, `page ${fresh} vs CLI ${cliFresh}`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('adapters-download').click()]);
    assert.equal(download.suggestedFilename(), 'deviate-ddpo-step1.safetensors');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'deviate-adapters-')), download.suggestedFilename());
    await download.saveAs(file);
    await page.waitForFunction(() => /step 1 downloaded/.test(document.querySelector('[data-testid=adapters-note]').textContent));
    await checkTrlExport(page, link, file);
    const pageStep2 = await stepTo(page, 2);
    const cliStep2 = cliLoss(file, 2);
    console.log(`# step-2 loss from the step-1 adapters: page ${pageStep2}, CLI ${cliStep2}`);
    assert.ok(Math.abs(pageStep2 - cliStep2) <= 2e-4, `page ${pageStep2} vs CLI ${cliStep2}`);

    // Back into a fresh lane: its first step starts from the loaded adapters.
    await setUp(page);
    await page.getByTestId('adapters-load').setInputFiles(file);
    await page.waitForFunction(() => /Adapters loaded/.test(document.querySelector('[data-testid=adapters-note]').textContent));
    const pageLoaded = await stepTo(page, 1);
    const cliLoaded = cliLoss(file, 1);
    console.log(`# step-1 loss from the loaded adapters: page ${pageLoaded}, CLI ${cliLoaded}`);
    assert.ok(Math.abs(pageLoaded - cliLoaded) <= 2e-4, `page ${pageLoaded} vs CLI ${cliLoaded}`);
    assert.ok(Math.abs(pageLoaded - fresh) > 1e-3, `the loaded adapters changed the step-1 loss (${fresh} fresh)`);
    // The runs are in the learner's history, which survives a reload.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=history-row]').length >= 1);
    await page.reload();
    await page.waitForSelector('[data-testid=history-row]');
    assert.match(await page.getByTestId('learner-summary').textContent(), /\d+ training runs?/);
    assert.deepEqual(errors, []);

    // The same link in a fresh context: the same first loss, to the digit shown.
    const other = await (await browser.newContext()).newPage();
    const otherErrors = watchErrors(other);
    await other.goto(link);
    await other.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: 300_000 });
    await setUp(other);
    assert.equal(await stepTo(other, 1), fresh);
    assert.deepEqual(otherErrors, []);
  } finally {
    await browser.close();
  }
});
