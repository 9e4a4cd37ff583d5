/** Driving `ftkit demo` on a terminal of its own (script(1) gives it one), as a user would, from system tests. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { followOutput } from './output.js';

export interface PtyDemo {
  child: ChildProcess;
  output: () => string;
  /** Resolves when the output after the previous match matches `re` (with the match). */
  until: (re: RegExp, ms?: number) => Promise<RegExpExecArray>;
  key: (k: string) => void;
}

/** ftkit processes still running whose command line mentions `marker`. */
export function survivors(marker: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' }).stdout;
  return ps.split('\n').filter((l) => l.includes(FTKIT_BIN) && l.includes(marker));
}

/** Whatever a failed run on ports from `base` left behind (stopped processes included) is killed: a test stops all it started. */
export function killSurvivors(base: number): void {
  for (const marker of [`127.0.0.1:${base}`, `127.0.0.1:${base + 1}`, ...[1, 2, 3].map((i) => `127.0.0.1:${base + 100 + i}`)]) {
    for (const line of survivors(marker)) {
      try {
        process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

/** `ftkit demo <args>` on a terminal of its own, in the state folder `stateHome`. */
export function startPtyDemo(args: string[], stateHome: string): PtyDemo {
  const cmd = `exec ${process.execPath} ${FTKIT_BIN} demo ${args.join(' ')}`;
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', XDG_STATE_HOME: stateHome } });
  const { output, until } = followOutput(child, 'demo');
  return { child, output, until, key: (k) => child.stdin!.write(k) };
}
