/**
 * Run by `npm test` when tap reports a failure: the failures again, gathered from the results
 * tap keeps per file (.tap/test-results), so that they are in the last lines of a long run's
 * output — what a CI log shows first. Each failing assertion with the subtests it is in and the
 * start of its diagnostics. Always exits 1: it runs only because the suite failed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = '.tap/test-results';
const DIAG_LINES = 24;

function* files(dir) {
  let entries = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* files(path);
    else if (e.name.endsWith('.tap')) yield path;
  }
}

const out = [];
for (const path of files(ROOT)) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const chain = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const depth = line.search(/\S/) / 4;
    const sub = /^\s*# Subtest: (.*)$/.exec(line);
    if (sub) {
      chain.length = depth;
      chain[depth] = sub[1];
      continue;
    }
    // A failing assertion; a subtest's own `not ok` line (a `{` or a time after it) only repeats its children.
    if (!/^\s*not ok \d+/.test(line) || / # time=/.test(line) || /\{$/.test(line)) continue;
    out.push(`✖ ${relative(ROOT, path).replace(/\.tap$/, '')} > ${[...chain.slice(0, depth), line.trim()].join(' > ')}`);
    for (let j = i + 1; j < lines.length && j <= i + DIAG_LINES && (lines[j].search(/\S/) > line.search(/\S/) || lines[j].trim() === ''); j++) out.push(`    ${lines[j]}`);
  }
}
process.stdout.write(`\n# The failures again (from ${ROOT}):\n${out.length ? out.join('\n') : '(none found in the saved results: see the output above)'}\n`);
process.exit(1);
