/** Following what a child process prints, from tests: the whole output, and waiting for what comes next. */
import type { ChildProcess } from 'node:child_process';

export interface FollowedOutput {
  output: () => string;
  /** Resolves with the match when the output after the previous match matches `re`; rejects after `ms`. */
  until: (re: RegExp, ms?: number) => Promise<RegExpExecArray>;
  /** Resolves once the whole output so far matches `re` (in any order with other waits; moves nothing); rejects after `ms`. */
  seen: (re: RegExp, ms?: number) => Promise<void>;
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
  /** Resolve with what `test` finds once it finds something; reject after `ms` naming `wanted`. */
  const wait = <T>(test: () => T | undefined, wanted: string, ms: number, from: () => number) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`${what}: no ${wanted} within ${ms} ms; output ends:\n${out.slice(from()).split('\n').slice(-20).join('\n')}`));
      }, ms);
      const check = () => {
        const found = test();
        if (found === undefined) return;
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(check), 1);
        resolve(found);
      };
      waiters.push(check);
      check();
    });
  const until = (re: RegExp, ms = defaultMs) =>
    wait(
      () => {
        const m = re.exec(out.slice(cursor));
        if (!m) return undefined;
        cursor += m.index + m[0].length;
        return m;
      },
      String(re),
      ms,
      () => cursor,
    );
  const seen = (re: RegExp, ms = defaultMs) => wait(() => (re.test(out) ? true : undefined), String(re), ms, () => 0).then(() => undefined);
  return { output: () => out, until, seen };
}
