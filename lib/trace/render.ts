/**
 * Renderers for trace events: coloured text lines `[HH:mm:ss.SSS] …`, or JSON lines.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import dayjs from 'dayjs';
import type { Category, Sink, TraceEvent } from './tracer.js';

export interface RenderOptions {
  json?: boolean;
  /** false forces plain text; undefined means: colour unless NO_COLOR is set or the stream is not a TTY. */
  color?: boolean;
  write?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Leave out the per-request categories (request, reply, duplicate). */
  quiet?: boolean;
  /** Leave out heartbeat lines (a failed heartbeat is a fault and still prints). */
  quietHeartbeats?: boolean;
}

/** The categories `--quiet` leaves out: one or more lines per request. */
export const PER_REQUEST: ReadonlySet<Category> = new Set(['request', 'reply', 'duplicate']);

const STYLES: Record<Category, (c: ChalkInstance) => (s: string) => string> = {
  heartbeat: (c) => c.dim,
  membership: (c) => c.yellow,
  request: (c) => c.green,
  reply: (c) => c.green,
  duplicate: (c) => c.magenta,
  checkpoint: (c) => c.cyan,
  fault: (c) => c.red,
  state: (c) => c.blue,
  info: (c) => (s) => s,
};

/** Whether colour is on, per NO_COLOR (any non-empty value) and the explicit option. */
export function colorEnabled(option: boolean | undefined, env: NodeJS.ProcessEnv = process.env, isTTY = !!process.stdout.isTTY): boolean {
  if (option === false) return false;
  if (env.NO_COLOR) return false;
  if (option === true || env.FORCE_COLOR) return true;
  return isTTY;
}

let lastTime = NaN;
let lastStamp = '';

/** `[HH:mm:ss.SSS]` in local time (the last one is reused: many lines share a millisecond). */
export function timestamp(time: number): string {
  if (time !== lastTime) {
    lastTime = time;
    lastStamp = `[${dayjs(time).format('HH:mm:ss.SSS')}]`;
  }
  return lastStamp;
}

/** Format one event as a text line (no newline). */
export function formatText(event: TraceEvent, chalk: ChalkInstance): string {
  return `${timestamp(event.time)} ${STYLES[event.category](chalk)(event.text)}`;
}

export function formatJson(event: TraceEvent): string {
  return JSON.stringify(event);
}

let stdoutClosed = false;
let pending: string[] = [];
let flushScheduled = false;
let hooked = false;

function flushStdout(): void {
  flushScheduled = false;
  if (pending.length === 0 || stdoutClosed) return;
  const text = pending.join('');
  pending = [];
  process.stdout.write(text);
}

/**
 * Write a line to stdout. Lines written in one turn of the event loop go out in one
 * write (stdout to a pipe or file is a blocking write per call); anything still
 * buffered is flushed when the process exits. Once the reader is gone (EPIPE), output
 * is dropped instead of failing.
 */
export function writeStdout(line: string): void {
  if (stdoutClosed) return;
  if (!hooked) {
    hooked = true;
    process.stdout.on('error', () => {
      stdoutClosed = true;
    });
    process.on('exit', flushStdout);
  }
  pending.push(line + '\n');
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushStdout);
  }
}

/** A sink that prints each event to stdout as text or JSON. */
export function consoleSink(options: RenderOptions = {}): Sink {
  const write = options.write ?? writeStdout;
  const chalk = new Chalk({ level: colorEnabled(options.color, options.env) ? 1 : 0 });
  const format = options.json ? formatJson : (event: TraceEvent) => formatText(event, chalk);
  const skips = new Set<Category>([...(options.quiet ? PER_REQUEST : []), ...(options.quietHeartbeats ? (['heartbeat'] as const) : [])]);
  if (skips.size === 0) return (event: TraceEvent) => write(format(event));
  return Object.assign((event: TraceEvent) => void (skips.has(event.category) || write(format(event))), { skips });
}
