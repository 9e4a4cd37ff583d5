/**
 * Run before the suite (package.json "pretest"): tap is installed built with its default plugins,
 * TypeScript through ts-node among them, and rebuilds itself for the configured set (ours loads
 * TypeScript through tsx instead) only once its runner has started, too late for the run that
 * noticed: on a fresh `npm ci` that first run would start every test file with both loaders.
 * So when the installed build still has the default TypeScript plugin, build it now.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const built = require.resolve('@tapjs/test').replace(/dist[\\/](esm|commonjs)[\\/]index\.js$/, 'test-built/dist/esm/index.js');
let stale = true;
try {
  stale = readFileSync(built, 'utf8').includes('@tapjs/typescript');
} catch {
  // not built at all: build it
}
if (stale) {
  const r = spawnSync('npx', ['tap', 'build'], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`tap build failed (exit ${r.status})\n`);
    process.exit(1);
  }
}
