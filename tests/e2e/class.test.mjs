// The class's own ratings (CPU path): three students, each in their own browser context, open a
// prompt link, generate, rate and press Send my ratings; a fourth page (the teacher's) pools
// their three links with a malformed and an oversized one. The two are refused with reasons,
// the rest pooled; the pooled set (read back from the teacher's share link once it trains on
// it) equals `deviate ratings merge` of the same links; and a training step runs on it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer, launch, watchErrors, accessibilityProblems, OUT, BIN, ROOT } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const PROMPT = 'Write about a lighthouse keeper who hears a song in the fog.';
const cli = (args, input = '') => execFileSync(BIN, args, { input, encoding: 'utf8', cwd: ROOT });

/** One student: opens the prompt link with `seed`, generates 3 continuations, rates them
 * `scores`, sends, and returns the ratings link. */
async function student(browser, seed, scores) {
  const experiment = { prompt: PROMPT, generate: { n: 3, max_tokens: 12, seed } };
  const link = cli(['link', 'encode', '--base', server.url], JSON.stringify(experiment)).trim();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(link, { timeout: 120_000 });
    await page.getByTestId('generate').click();
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll('[data-testid=continuation]')];
      return items.length === 3 && items.every((i) => i.dataset.finish !== 'running');
    }, null, { timeout: 600_000 });
    const selects = page.getByTestId('rate');
    for (const [i, score] of scores.entries()) await selects.nth(i).selectOption(String(score));
    await page.getByTestId('send-ratings').click();
    const sent = await page.getByTestId('ratings-link').inputValue();
    assert.match(sent, /#r=1\./);
    assert.deepEqual(errors, []);
    return sent;
  } finally {
    await context.close();
  }
}

test('CPU path: three students\' ratings links pool in a fourth page as `deviate ratings merge` does, and train', { timeout: 2_400_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    // Students 1 and 2 share a seed (the same continuations, so duplicates); student 3 does not.
    const links = [await student(browser, 5, [1, 3, 5]), await student(browser, 5, [2, 4, 5]), await student(browser, 6, [5, 2, 1])];
    console.log(`# ratings links: ${links.map((l) => l.length).join(', ')} characters`);
    const malformed = `${server.url}#r=1.not*base64`;
    const oversized = `1.${'A'.repeat(40_000)}`;
    const pasted = [links[0], malformed, links[1], oversized, links[2]];

    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = watchErrors(page);
    await page.goto(server.url, { timeout: 120_000 });
    await page.getByTestId('pool-links').fill(pasted.join('\n'));
    await page.getByTestId('pool').click();
    const outcomes = await page.$$eval('[data-testid=pool-outcome]', (li) => li.map((l) => [l.dataset.state, l.textContent]));
    console.log(`# pooled: ${JSON.stringify(outcomes)}`);
    assert.deepEqual(outcomes.map((o) => o[0]), ['pooled', 'refused', 'pooled', 'refused', 'pooled']);
    assert.match(outcomes[0][1], /^line 1: 3 added, 0 already pooled/);
    assert.match(outcomes[1][1], /^line 2: refused: the link is not valid base64url/);
    assert.match(outcomes[2][1], /^line 3: 0 added, 3 already pooled/, 'the same seed gave the same continuations');
    assert.match(outcomes[3][1], /^line 4: refused: the link is too long \(40002 characters/);
    assert.match(outcomes[4][1], /^line 5: \d added/);

    // The pooled set is what the CLI pools from the same links.
    const merged = JSON.parse(cli(['ratings', 'merge'], pasted.join('\n')));
    await page.getByTestId('train-data').selectOption('class');
    await page.waitForFunction(() => /The class's ratings: 1 prompt/.test(document.querySelector('[data-testid=train-data-note]').textContent));
    await page.waitForFunction(() => location.hash.length > 200, null, { timeout: 10_000 });
    const shared = JSON.parse(cli(['link', 'decode', await page.evaluate(() => location.hash.slice(3))]));
    assert.deepEqual(shared.train.data, merged, 'the page pooled what `deviate ratings merge` pools');

    // The pooled responses are shown with their deviations, and a step trains on them.
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=bar]').length === n, merged.train[0].responses.length, { timeout: 300_000 });
    const problems = await accessibilityProblems(page);
    assert.deepEqual(problems, [], problems.join('\n'));
    await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: 600_000 });
    await page.getByTestId('train-setup').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid=train-step]').disabled, null, { timeout: 1_200_000 });
    await page.getByTestId('train-step').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=lane] [data-testid=train-row]').length === 2, null, { timeout: 1_200_000 });
    await page.locator('section[aria-labelledby=class-heading]').screenshot({ path: path.join(OUT, 'class-ratings.png'), timeout: 120_000 });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
