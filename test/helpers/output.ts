/** Following what a child process prints, from tests: the whole output, and waiting for what comes next. */
import type { ChildProcess } from 'node:child_process';

export interface FollowedOutput {
  output: () => string;
  /** Resolves with the match when the output after the previous match matches `re`; rejects after `ms`. */
  until: (re: RegExp, ms?: number) => Promise<RegExpExecArray>;
  /** Resolves when the whole output (however ordered, whatever was matched before) matches `re`; rejects after `ms`. */
  shows: (re: RegExp, ms?: number) => Promise<RegExpExecArray>;
}

/** Follow `child`'s stdout and stderr (carriage returns dropped: a terminal's line ends). */
export function followOutput(child: ChildProcess, what: string, defaultMs = 30_000): FollowedOutput {
  let out = '';
  let cursor = 0;
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => {
    out += d.toString().replace(/\r/g, '');
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  // Wait for `re` in the output from `from()` on; `matched` moves the cursor (or not).
  const wait = (re: RegExp, ms: number, from: () => number, matched: (end: number) => void) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`${what}: no ${re} within ${ms} ms; output since the last match ends:\n${out.slice(cursor).split('\n').slice(-20).join('\n')}`));
      }, ms);
      const check = () => {
        const start = from();
        const m = re.exec(out.slice(start));
        if (!m) return;
        matched(start + m.index + m[0].length);
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(check), 1);
        resolve(m);
      };
      waiters.push(check);
      check();
    });
  const until = (re: RegExp, ms = defaultMs) => wait(re, ms, () => cursor, (end) => (cursor = end));
  const shows = (re: RegExp, ms = defaultMs) => wait(re, ms, () => 0, () => undefined);
  return { output: () => out, until, shows };
}
