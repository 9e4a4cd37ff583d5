/** Driving `ftkit demo` on a terminal of its own (script(1) gives it one), as a user would, from system tests. */
import type { Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
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

/** A person's own client beside a demo: the command the demo printed (`ftkit sns -u 7 --rm …`), typed at through its `prompt`. */
export function ownClient(t: Test, command: string, prompt: RegExp) {
  const [, ...args] = command.split(' ');
  const child = spawn(process.execPath, [FTKIT_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const { output, until } = followOutput(child, command, 20_000);
  const type = (line: string) => void child.stdin.write(`${line}\n`);
  /** Type `line`; resolves with what it printed before the next prompt. */
  const command_ = async (line: string) => {
    type(line);
    return (await until(new RegExp(`([\\s\\S]*?)${prompt.source}`)))[1]!;
  };
  return { child, output, until, command: command_, type };
}

/** A demo on ports from `base` has ended by itself: status 0, the orderly stop's last line, and nothing left on its ports. */
export async function endsCleanly(t: Test, demo: PtyDemo, base: number): Promise<void> {
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0, 'the end of --duration stops in order and exits 0');
  t.match(demo.output(), /demo\s+│ stopped: every process the demo started has exited/, 'the demo says everything it started has exited');
  t.same(survivors(`127.0.0.1:${base}`), [], 'nothing the demo started runs on: no replica, no sync');
}
