// `make sizes`: the wasm's size raw, gzip -9 and brotli (quality 11), for each file given
// (the shipped, wasm-opt'd site/pkg/deviate_bg.*.wasm and the unoptimised pkg/deviate_bg.wasm).
// Exits 1 when a file's gzip size is over --budget-gzip bytes; --gzip-only skips brotli (quality 11
// takes about a minute per file on 2 cores).
import { readFileSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const args = process.argv.slice(2);
const budgetAt = args.indexOf('--budget-gzip');
const budget = budgetAt >= 0 ? Number(args.splice(budgetAt, 2)[1]) : Infinity;
const gzipOnly = args.includes('--gzip-only');
const files = args.filter((a) => a !== '--gzip-only');
const mb = (n) => `${(n / 1e6).toFixed(2)} MB`.padStart(10);
let over = false;
for (const file of files) {
  const bytes = readFileSync(file);
  const gzip = gzipSync(bytes, { level: 9 }).length;
  const brotli = gzipOnly ? null : brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }).length;
  console.log(`${file}\n  raw ${mb(bytes.length)}  gzip ${mb(gzip)}${brotli === null ? '' : `  brotli ${mb(brotli)}`}`);
  if (gzip > budget) {
    console.error(`  over the budget: gzip ${gzip} bytes > ${budget}`);
    over = true;
  }
}
process.exit(over ? 1 : 0);
