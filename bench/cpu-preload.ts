/**
 * Preloaded into ftkit processes by `npm run bench -- --profile` (NODE_OPTIONS=--import,
 * because Node 20 does not allow --cpu-prof in NODE_OPTIONS): starts the V8 sampling
 * profiler in-process and writes `CPU.<pid>.cpuprofile` into $BENCH_CPU_PROF_DIR at exit.
 * The inspector session is in-thread, so its calls complete synchronously (safe in 'exit').
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err && result) writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
