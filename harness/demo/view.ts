/**
 * What the demo prints, and where: which trace events are shown (`--heartbeats`, `--quiet`,
 * `--verbose`), as text lines or JSON lines (`--json`), behind each process's prefix (the plain
 * demo) or in each process's tmux pane (tmux.ts). Every component's events are routed by the
 * component that emitted them, so a replica an LFD relaunched speaks under its own name.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { colorEnabled, formatJson, formatText, PER_REQUEST, type Category, type TraceEvent } from '../../lib/trace/index.js';

export interface ShowOptions {
  /** Heartbeat lines (many); a failed heartbeat is a fault and always shows. */
  heartbeats?: boolean;
  /** Leave out the per-request lines (requests, states, replies, duplicates). */
  quiet?: boolean;
  /** Lifecycle lines (`RM: idle -> starting`) and each component's `the system is stopping`. */
  verbose?: boolean;
}

/** Whether the demo shows an event. */
export function shown(e: TraceEvent, o: ShowOptions): boolean {
  if (e.category === 'heartbeat') return o.heartbeats === true;
  if (o.quiet && PER_REQUEST.has(e.category)) return false;
  if (e.type === 'lifecycle' || e.type === 'system_stopping') return o.verbose === true;
  return true;
}

/** Where the demo's lines go. */
export interface DemoView {
  /** An event from a component (already selected by `shown`). */
  event(e: TraceEvent): void;
  /** A line process `name` printed that is not an event (stderr, a crash). */
  line(name: string, text: string): void;
  /** The demo's own line; `category` colours it. */
  say(text: string, category?: Category, data?: Record<string, unknown>): void;
  /** Release what the view holds (files, panes). */
  close?(): void;
}

export interface PlainViewOptions {
  json?: boolean;
  color?: boolean;
  write?: (line: string) => void;
}

const PREFIX_COLORS = ['cyan', 'magenta', 'yellow', 'green', 'blue', 'red', 'white', 'gray'] as const;

/** The demo's own lines as events (for `--json`). */
export function demoEvent(text: string, category: Category = 'info', data?: Record<string, unknown>): TraceEvent {
  return { time: Date.now(), component: 'demo', type: 'demo', category, text, ...(data ? { data } : {}) };
}

/** Text for one event or line, as the plain demo and the tmux panes print it. */
export class LineFormat {
  readonly chalk: ChalkInstance;

  constructor(readonly json: boolean, color: boolean | undefined) {
    this.chalk = new Chalk({ level: !json && colorEnabled(color) ? 1 : 0 });
  }

  event(e: TraceEvent): string {
    return this.json ? formatJson(e) : formatText(e, this.chalk);
  }

  /** A plain line of process `name`, as an `output` event in JSON. */
  line(name: string, text: string): string {
    return this.json ? formatJson({ time: Date.now(), component: name, type: 'output', category: 'info', text }) : text;
  }

  say(text: string, category: Category = 'info', data?: Record<string, unknown>): string {
    if (this.json) return formatJson(demoEvent(text, category, data));
    return category === 'fault' ? this.chalk.red(text) : text;
  }
}

/** Every line on one stream: `NAME  │ line` with a coloured, fixed-width name, or bare JSON lines. */
export class PlainView implements DemoView {
  private readonly format: LineFormat;
  private readonly write: (line: string) => void;
  private readonly prefixes = new Map<string, string>();

  constructor(o: PlainViewOptions = {}) {
    this.format = new LineFormat(o.json === true, o.color);
    this.write = o.write ?? ((line) => process.stdout.write(line + '\n'));
  }

  /** Each process keeps its colour (a relaunched one too). */
  private prefix(name: string): string {
    if (this.format.json) return '';
    let p = this.prefixes.get(name);
    if (!p) {
      const chalk = this.format.chalk;
      p = name === 'demo' ? chalk.bold('demo'.padEnd(5)) + ' │ ' : chalk[PREFIX_COLORS[this.prefixes.size % PREFIX_COLORS.length]!](name.padEnd(5)) + ' │ ';
      this.prefixes.set(name, p);
    }
    return p;
  }

  event(e: TraceEvent): void {
    this.write(this.prefix(e.component) + this.format.event(e));
  }

  line(name: string, text: string): void {
    this.write(this.prefix(name) + this.format.line(name, text));
  }

  say(text: string, category?: Category, data?: Record<string, unknown>): void {
    this.write(this.prefix('demo') + this.format.say(text, category, data));
  }
}
