/** Reading `ftkit demo --milestone N` output in system tests: each process's lines, in order, and what follows a demo line. */
import type { Test } from 'tap';
import { demoPorts } from '../../harness/demo/demo.js';
import { survivors } from './cli.js';

/** One line of the demo's output: `NAME  │ text`. */
export interface OutLine {
  name: string;
  text: string;
}

export function parseDemo(out: string): OutLine[] {
  return out
    .split('\n')
    .map((l) => /^(\S+)\s+│ (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1]!, text: m[2]! }));
}

/** The lines after the first demo line that matches `marker` (all lines when `marker` is undefined). */
export function after(lines: OutLine[], marker: RegExp): OutLine[] {
  const i = lines.findIndex((l) => l.name === 'demo' && marker.test(l.text));
  return i < 0 ? [] : lines.slice(i + 1);
}

export const of = (lines: OutLine[], name: string, re: RegExp) => lines.filter((l) => l.name === name && re.test(l.text));

/**
 * When a line was traced (`[18:52:58.453] …`), in ms of the day. Lines of different processes
 * reach the demo through different pipes, so their order there is not the order they happened
 * in; their timestamps (one machine, one clock) are.
 */
export function timeOf(line: OutLine | undefined): number {
  const m = /^\[(\d\d):(\d\d):(\d\d)\.(\d{3})\]/.exec(line?.text ?? '');
  return m ? ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) : NaN;
}

/** Index of the first line of `name` matching `re` at or after `from`; -1 if none. */
export function indexOf(lines: OutLine[], name: string, re: RegExp, from = 0): number {
  for (let i = from; i < lines.length; i++) if (lines[i]!.name === name && re.test(lines[i]!.text)) return i;
  return -1;
}

/** No process of the demo on ports from `base` is left. */
export function nothingLeft(t: Test, base: number): void {
  const left = Object.values(demoPorts(base)).flatMap((p) => survivors(`--port ${p} `));
  t.same(left, [], 'no process the demo started is left');
}

/** No line from or about a component `what` (RM, GFD) anywhere but the demo's own, except `allowed`. */
export function noLineOf(t: Test, lines: OutLine[], what: string, allowed: RegExp[] = []): void {
  const word = new RegExp(`\\b${what}\\b`);
  const found = lines.filter((l) => l.name === what || (l.name !== 'demo' && word.test(l.text) && !allowed.some((a) => a.test(l.text))));
  t.same(found.map((l) => `${l.name} │ ${l.text}`), [], `no ${what} line`);
}
