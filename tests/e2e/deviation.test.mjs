// The deviation panel in real headless Chromium: the Jaccard numbers the page shows equal the
// CLI's exactly, on WebGPU (SwiftShader) and on the CPU fallback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, launch, cliDeviation, watchErrors, pageNumbers, OUT } from './harness.mjs';

const RESPONSES = [
  'The dragon guarded its gold in the mountain cave.',
  'In a mountain cave, the dragon guarded the gold.',
  'A dragon slept on gold deep in the mountain.',
  'The dragon had sold its gold to pay for the library it always wanted.',
  'Nobody believed the baker was a dragon until the bread started glowing.',
];

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });


for (const webgpu of [true, false]) {
  const name = webgpu ? 'WebGPU (SwiftShader)' : 'CPU fallback';
  test(`page numbers equal the CLI's on ${name}`, async () => {
    const browser = await launch({ webgpu });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors = watchErrors(page);
      await page.goto(webgpu ? `${server.url}?gpu=force` : server.url); // SwiftShader is used only when forced
      const badge = page.getByTestId('backend');
      await badge.locator(`xpath=self::*[@data-backend="${webgpu ? 'webgpu' : 'cpu'}"]`).waitFor({ timeout: 60_000 });
      const label = await badge.textContent();
      if (webgpu) assert.match(label, /WebGPU \(.+\)/, label);
      else assert.match(label, /CPU \(.+\)/, label);

      await page.getByTestId('similarity').selectOption('jaccard');
      const shown = await pageNumbers(page, RESPONSES, 'jaccard');
      const cli = cliDeviation(RESPONSES);
      assert.deepEqual(shown.map((r) => r.deviation), cli.deviation);
      assert.deepEqual(shown.map((r) => r.weight), cli.weight);
      // The heatmap shows N×N similarities with ones on the diagonal.
      const cells = await page.$$eval('[data-testid=heatmap] td', (tds) => tds.map((td) => Number(td.dataset.similarity)));
      assert.equal(cells.length, RESPONSES.length ** 2);
      assert.equal(cells[0], 1);

      // Editing recomputes: drop the last response and the numbers follow the CLI again.
      const fewer = RESPONSES.slice(0, 3);
      assert.deepEqual((await pageNumbers(page, fewer, 'jaccard')).map((r) => r.deviation), cliDeviation(fewer).deviation);

      await page.getByTestId('responses').fill(RESPONSES.join('\n'));
      await pageNumbers(page, RESPONSES, 'jaccard');
      await page.screenshot({ path: path.join(OUT, `deviation-${webgpu ? 'webgpu' : 'cpu'}.png`), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
}
