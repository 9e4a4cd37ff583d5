/**
 * A metrics report: what one process measured over one window (about a second), as it
 * travels up to the RM inside a `metrics` message (docs/PROTOCOL.md, docs/OBSERVABILITY.md).
 * Reports are JSON, small (sparse buckets), and checked on arrival: a report that is too
 * large or malformed is refused with a MetricsReportError, which the receiver traces.
 */
import { MetricsReportError } from '../errors.js';
import { BUCKET_COUNT, type Window } from './histogram.js';
import type { LoopReport } from './loop.js';

/** A report larger than this is not sent, and refused if received. */
export const MAX_REPORT_BYTES = 64 * 1024;
/** Links in one report, at most. */
export const MAX_REPORT_LINKS = 256;

/** What was timed on a link: each is a round trip measured by the side that sends. */
export type LinkKind = 'heartbeat' | 'request' | 'log' | 'order';
export const LINK_KINDS: readonly LinkKind[] = ['heartbeat', 'request', 'log', 'order'];

/** One link's window: from the reporting process to `to`. */
export interface LinkReport extends Window {
  to: string;
  kind: LinkKind;
}

export interface Report {
  /** The process that measured (S1, LFD1, GFD, C1). */
  process: string;
  /** Its wall clock when the window closed (ms since the epoch). */
  at: number;
  /** CPU time used since the process started, in seconds. */
  cpu: { user: number; system: number };
  /** Resident set size and V8 heap in use, in bytes. */
  rss: number;
  heap: number;
  /** Requests received since start (replicas only). */
  requests?: number;
  /** How blocked its event loop was over the window (loop.ts); absent where it is not measured. */
  loop?: LoopReport;
  links: LinkReport[];
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Encode a report, or undefined if it is over MAX_REPORT_LINKS or MAX_REPORT_BYTES (it would be refused). */
export function encodeReport(r: Report): string | undefined {
  if (r.links.length > MAX_REPORT_LINKS) return undefined;
  const text = JSON.stringify(r);
  return text.length > MAX_REPORT_BYTES ? undefined : text;
}

/** Parse and check a report's text; throws MetricsReportError saying what is wrong. */
export function parseReport(text: string): Report {
  if (text.length > MAX_REPORT_BYTES) throw new MetricsReportError(`${text.length} bytes, over the ${MAX_REPORT_BYTES}-byte limit`);
  let r: Partial<Report>;
  try {
    r = JSON.parse(text) as Partial<Report>;
  } catch (err) {
    throw new MetricsReportError('not JSON', { cause: err });
  }
  if (typeof r !== 'object' || r === null) throw new MetricsReportError('not an object');
  if (typeof r.process !== 'string' || !NAME.test(r.process)) throw new MetricsReportError('no valid process name');
  if (!isNum(r.at) || !isNum(r.rss) || !isNum(r.heap)) throw new MetricsReportError('at, rss and heap must be non-negative numbers');
  if (!r.cpu || !isNum(r.cpu.user) || !isNum(r.cpu.system)) throw new MetricsReportError('cpu must have user and system seconds');
  if (r.requests !== undefined && !isNum(r.requests)) throw new MetricsReportError('requests must be a non-negative number');
  const loop = r.loop;
  if (loop !== undefined && (typeof loop !== 'object' || loop === null || !isNum(loop.delay) || !isNum(loop.max) || !isNum(loop.elu) || loop.elu > 1)) {
    throw new MetricsReportError('loop must have delay and max in ms and elu in [0, 1]');
  }
  if (!Array.isArray(r.links) || r.links.length > MAX_REPORT_LINKS) throw new MetricsReportError(`links must be a list of at most ${MAX_REPORT_LINKS}`);
  for (const l of r.links as unknown[]) checkLink(l);
  return { process: r.process, at: r.at, cpu: { user: r.cpu.user, system: r.cpu.system }, rss: r.rss, heap: r.heap, ...(r.requests === undefined ? {} : { requests: r.requests }), ...(loop ? { loop: { delay: loop.delay, max: loop.max, elu: loop.elu } } : {}), links: r.links };
}

function checkLink(v: unknown): asserts v is LinkReport {
  const l = v as Partial<LinkReport> | null;
  if (typeof l !== 'object' || l === null) throw new MetricsReportError('a link is not an object');
  if (typeof l.to !== 'string' || !NAME.test(l.to)) throw new MetricsReportError('a link has no valid peer name');
  if (!LINK_KINDS.includes(l.kind as LinkKind)) throw new MetricsReportError(`link kind ${JSON.stringify(l.kind)} is not one of ${LINK_KINDS.join(', ')}`);
  if (!isNum(l.count) || !isNum(l.sum) || !isNum(l.min) || !isNum(l.max) || l.min > l.max) throw new MetricsReportError(`link to ${l.to}: count, sum, min ≤ max must be non-negative numbers`);
  const b = l.buckets;
  if (!Array.isArray(b) || b.length % 2 !== 0 || b.length > 2 * BUCKET_COUNT) throw new MetricsReportError(`link to ${l.to}: buckets must be index, count pairs`);
  for (let k = 0; k < b.length; k += 2) {
    if (!Number.isInteger(b[k]) || b[k]! < 0 || b[k]! >= BUCKET_COUNT || !isNum(b[k + 1])) throw new MetricsReportError(`link to ${l.to}: bad bucket ${b[k]}`);
  }
}

/** How often the same refusal (same sender, same reason) is said again: a sender that keeps sending a bad report fills no log. */
export const REFUSAL_REPEAT_MS = 60_000;

/** Whether a refusal is to be said now: the first time, and again once REFUSAL_REPEAT_MS have passed. */
export class RefusalLimiter {
  private readonly said = new Map<string, number>();

  shouldSay(from: string, reason: string, now = Date.now()): boolean {
    const key = `${from}\0${reason}`;
    const last = this.said.get(key);
    if (last !== undefined && now - last < REFUSAL_REPEAT_MS) return false;
    if (this.said.size >= 1000) this.said.clear();
    this.said.set(key, now);
    return true;
  }
}
