/**
 * Preloaded into every test process (package.json "tap"."node-arg"). tap's process-info
 * recorder adds itself to NODE_OPTIONS of every process a test starts, so that it could measure
 * their coverage; it costs each ftkit component about half a CPU-second to start, and the suite
 * starts over a thousand of them. With coverage off (the package's policy) nothing reads what it
 * records, so the processes the tests start run without it, as they would outside the tests.
 */
import { createRequire } from 'node:module';

if (process.env._TAPJS_PROCESSINFO_COVERAGE_ === '0') {
  const require = createRequire(import.meta.url);
  try {
    const onSpawn = require('process-on-spawn');
    onSpawn.addListener((child) => {
      const kept = (child.env.NODE_OPTIONS ?? '').split(/\s+/).filter((o) => o !== '' && !o.includes('@tapjs/processinfo'));
      const env = { ...child.env };
      if (kept.length > 0) env.NODE_OPTIONS = kept.join(' ');
      else delete env.NODE_OPTIONS;
      child.env = env;
    });
  } catch {
    // a tap without it: nothing to take out
  }
}
