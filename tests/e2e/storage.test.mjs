// Stored data is never lost (CPU path): saved data that the page cannot read or that fails its
// checks is copied to a backup key and left untouched across reloads, with a message that stays
// until the learner dismisses it; once the learner changes something, the new state is saved and
// the backup is still there. An experiment too large for a link is kept in storage, never lost
// to the address's older link.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, launch, watchErrors, BIN, ROOT } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('CPU path: stored data that fails its checks survives reloads untouched', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url);
    // What an older or hand-edited copy might hold: 300 responses (at most 200) and a rating of 9.
    const bad = JSON.stringify({
      version: 1,
      experiment: { responses: Array.from({ length: 300 }, (_, i) => `Saved line ${i}.`).join('\n') },
      ratings: [{ prompt: 'p', text: 'a rated continuation', score: 9 }],
      history: [],
    });
    await page.evaluate((bad) => { localStorage.clear(); localStorage.setItem('deviate.v1', bad); }, bad);
    for (const round of [1, 2]) {
      // The default 30 s can pass while the machine is still busy with the previous test's browser.
      await page.goto(`${server.url}?round=${round}`, { timeout: 120_000 });
      await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: 300_000 });
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=bar]').length > 0, null, { timeout: 120_000 });
      const message = await page.getByTestId('storage-error').textContent();
      assert.match(message, /Your saved data could not be read \(300 responses; at most 200\)/);
      assert.match(message, /"deviate\.v1\.backup"/);
      const stored = await page.evaluate(() => [localStorage.getItem('deviate.v1'), localStorage.getItem('deviate.v1.backup')]);
      assert.deepEqual(stored, [bad, bad], `round ${round}: the stored text and its backup are untouched`);
    }
    // The message stays until dismissed; a change is then saved, and the backup stays.
    await page.getByTestId('storage-error').getByRole('button', { name: 'Dismiss' }).click();
    assert.equal(await page.getByTestId('storage-error').count(), 0);
    await page.getByTestId('responses').fill('The sea was calm.\nA dragon ate the moon.');
    await page.waitForFunction(() => (localStorage.getItem('deviate.v1') ?? '').includes('A dragon ate the moon.'), null, { timeout: 10_000 });
    assert.equal(await page.evaluate(() => localStorage.getItem('deviate.v1.backup')), bad);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

// Links cannot lose data: an experiment whose training data (2,000 rated continuations) makes its
// link longer than a link may be is imported; the address keeps its last link that fitted (still
// decodable), the page says why, and two reloads open the stored experiment byte for byte.
test('CPU path: an experiment too large for a link survives two reloads; the address stays decodable', { timeout: 600_000 }, async () => {
  let seed = 11;
  const word = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return `w${seed.toString(36)}`; };
  const data = {
    version: 1,
    description: 'two thousand rated continuations',
    train: Array.from({ length: 100 }, (_, p) => ({
      prompt: `Write about object ${p}.`,
      responses: Array.from({ length: 20 }, (_, r) => ({ text: Array.from({ length: 7 }, word).join(' '), score: (r % 5) + 1 })),
    })),
    heldout: [{ prompt: 'Write about a river.' }],
  };
  const exported = JSON.stringify({ version: 1, experiment: { train: { data } }, ratings: [], history: [] });
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url, { timeout: 120_000 });
    await page.evaluate(() => localStorage.clear());
    await page.reload({ timeout: 120_000 });
    await page.waitForFunction(() => location.hash.startsWith('#x='), null, { timeout: 60_000 });
    const fitted = await page.evaluate(() => location.hash);
    await Promise.all([
      page.waitForEvent('load', { timeout: 120_000 }),
      page.getByTestId('import').setInputFiles({ name: 'class.json', mimeType: 'application/json', buffer: Buffer.from(exported) }),
    ]);
    let stored = null;
    for (const round of [0, 1, 2]) {
      if (round > 0) await page.reload({ timeout: 120_000 });
      const notice = page.getByTestId('link-error');
      await notice.waitFor({ timeout: 60_000 });
      assert.match(await notice.textContent(), /too large for a link \(\d+ characters; at most 32768\)/, `round ${round}`);
      assert.equal(await page.evaluate(() => location.hash), fitted, `round ${round}: the address keeps the last link that fitted`);
      execFileSync(BIN, ['link', 'decode', fitted.slice(3)], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
      const now = await page.evaluate(() => localStorage.getItem('deviate.v1'));
      assert.deepEqual(JSON.parse(now).experiment.train.data, data, `round ${round}: the stored experiment holds the imported data`);
      if (stored !== null) assert.equal(now, stored, `round ${round}: byte for byte`);
      stored = now;
    }
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
