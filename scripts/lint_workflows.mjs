// Checks GitHub Actions workflows against SchemaStore's workflow schema with action-validator
// (npm's @action-validator/cli, Rust built to wasm: CI needs nothing from GitHub). It also checks
// that the globs in `paths` match files. Exits 1 when a workflow fails.
//   node scripts/lint_workflows.mjs .github/workflows/*.yml
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VALIDATOR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../node_modules/.bin/action-validator');
const validate = (file) => spawnSync(VALIDATOR, [file], { encoding: 'utf8' });

// The validator must still refuse a broken workflow, or a pass means nothing.
const broken = path.join(mkdtempSync(path.join(tmpdir(), 'lint-workflows-')), 'broken.yml');
writeFileSync(broken, 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n        bogus: 1\n');
if (validate(broken).status === 0) {
  console.error('lint_workflows: the validator accepted a broken workflow; it cannot be trusted');
  process.exit(2);
}
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node scripts/lint_workflows.mjs FILE.yml...');
  process.exit(2);
}
const failed = files.filter((file) => {
  const result = validate(file);
  if (result.status !== 0) console.error(`${file}:\n${result.stdout}${result.stderr}`);
  return result.status !== 0;
});
console.log(`lint_workflows: ${files.length} workflow(s) checked, ${failed.length} failed`);
process.exit(failed.length === 0 ? 0 : 1);
