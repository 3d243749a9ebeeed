// Accessible by default (CPU path): axe-core finds no serious or critical WCAG 2 A/AA violation on
// the default page, before its embedding model is ready and after. The lesson's result (its
// combined chart and seeds' strip) is checked the same way in lesson.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, watchErrors, accessibilityProblems } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('CPU path: axe-core finds no serious or critical violation on the default page', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = watchErrors(page);
    await page.goto(server.url, { timeout: 120_000 });
    // Before MiniLM is ready (model-free bars and heatmap), then after (semantic).
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=bar]').length > 0, null, { timeout: 120_000 });
    let problems = await accessibilityProblems(page);
    assert.deepEqual(problems, [], problems.join('\n'));
    await page.waitForSelector('[data-testid=model-state][data-state=ready]', { timeout: 300_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=bars]')?.dataset.kind === 'semantic', null, { timeout: 120_000 });
    problems = await accessibilityProblems(page);
    assert.deepEqual(problems, [], problems.join('\n'));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
