/**
 * `ftkit demo --tmux`: the course's one-console-per-process layout. The demo runs in the first
 * pane of a tmux window (its keys and its own lines there) and gives every process a pane of its
 * own, named after it; lines go to the pane of the component that printed them, so a replica an
 * LFD relaunched still speaks in its own pane. Outside tmux the window is a new session (attached
 * when on a terminal); inside tmux ($TMUX set) it is a new window of the current session. The
 * window closes when the demo ends, so nothing it started survives it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FTKIT_BIN } from '../launch/proc.js';
import { CLIENTS, CONTROL, SERVERS, type DemoOptions } from './demo.js';
import { LineFormat, PlainView, type DemoView } from './view.js';
import type { Category, TraceEvent } from '../../lib/trace/index.js';

/** Set in the first pane's environment: the demo there is the controller; the value is its wait-for channel. */
export const TMUX_CONTROLLER_ENV = 'FTKIT_DEMO_TMUX';
/** What the controller's environment keeps from the command's (a pane starts with tmux's environment). */
const PASSED_ENV = ['PATH', 'XDG_STATE_HOME', 'HOME', 'NO_COLOR', 'FORCE_COLOR', 'TMUX_TMPDIR'];
/** How long the command waits for the demo in tmux to finish once asked to stop. */
const STOP_WAIT_MS = 20_000;

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function tmux(...args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('tmux', args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}

/**
 * The `ftkit demo --tmux` command: open the window (a new session, or a new window inside tmux),
 * run the demo in its first pane, and wait for it to end. Resolves with the exit status.
 */
export async function runTmux(o: DemoOptions, argv: string[]): Promise<number> {
  const say = (text: string) => new PlainView({ json: o.json, color: o.color }).say(text);
  if (spawnSync('tmux', ['-V']).status !== 0) {
    say('tmux is not installed (on Debian: apt-get install tmux); run the demo without --tmux');
    return 2;
  }
  const channel = `ftkit-demo-${process.pid}`;
  const env = PASSED_ENV.filter((k) => process.env[k] !== undefined).map((k) => `${k}=${quote(process.env[k]!)}`);
  const command = `exec env ${TMUX_CONTROLLER_ENV}=${channel} ${env.join(' ')} ${quote(process.execPath)} ${quote(FTKIT_BIN)} ${argv.map(quote).join(' ')}`;
  const inside = !!process.env.TMUX;
  const session = `ftkit-${process.pid}`;
  const made = inside
    ? tmux('new-window', '-c', process.cwd(), '-n', 'ftkit-demo', '-P', '-F', '#{window_id} #{pane_id}', command)
    : tmux('new-session', '-d', '-s', session, '-n', 'ftkit-demo', '-x', '240', '-y', '70', '-c', process.cwd(), '-P', '-F', '#{window_id} #{pane_id}', command);
  if (!made.ok) {
    say(`tmux cannot open the demo's ${inside ? 'window' : 'session'}: ${made.err}`);
    return 1;
  }
  const [window, pane] = made.out.split(' ') as [string, string];
  // The demo in the pane signals the channel when it ends; a wait-for also returns for a signal sent before it.
  const finished = new Promise<void>((resolve) => spawn('tmux', ['wait-for', channel], { stdio: 'ignore' }).on('exit', () => resolve()));
  const stopDemo = async () => {
    const pid = Number(tmux('display-message', '-p', '-t', pane, '#{pane_pid}').out);
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // it has ended already
      }
    }
    await Promise.race([finished, new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
  };
  const close = () => (inside ? tmux('kill-window', '-t', window) : tmux('kill-session', '-t', session));
  if (!inside && process.stdout.isTTY) {
    spawnSync('tmux', ['attach', '-t', session], { stdio: 'inherit' });
    // Detached, or the demo ended and closed its window: either way the demo ends with the attach.
    await stopDemo();
    close();
    return 0;
  }
  say(
    inside
      ? `the demo runs in window ${window} of this tmux session (${CONTROL.length + SERVERS.length + CLIENTS.length + 1} panes); press q there to stop it`
      : `tmux session ${session} is running ${CONTROL.length + SERVERS.length + CLIENTS.length + 1} panes; attach with: tmux attach -t ${session}`,
  );
  say('stop with q in the demo pane, Ctrl-C or SIGTERM (the window closes with the demo)');
  const onSignal = () => void stopDemo();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  await finished;
  close();
  return 0;
}

/**
 * In the first pane: make a pane per process in this window and return the view that writes
 * to them. When the demo's process exits, the command waiting for it is signalled and the
 * window is closed (its panes only show files).
 */
export async function tmuxController(channel: string, o: DemoOptions): Promise<DemoView> {
  const here = process.env.TMUX_PANE ?? '';
  const window = tmux('display-message', '-p', '-t', here, '#{window_id}').out;
  const view = new TmuxView(window, o);
  tmux('select-pane', '-t', here, '-T', 'demo (keys)');
  tmux('set-option', '-w', '-t', window, 'pane-border-status', 'top');
  for (const name of [...CONTROL, ...SERVERS, ...CLIENTS]) view.pane(name);
  tmux('select-pane', '-t', here);
  process.on('exit', () => {
    view.close();
    tmux('wait-for', '-S', channel);
    tmux('kill-window', '-t', window);
  });
  return view;
}

/** Each component's lines in its own pane (a file the pane follows); the demo's own in the first pane. */
class TmuxView implements DemoView {
  private readonly dir = mkdtempSync(join(tmpdir(), 'ftkit-demo-panes-'));
  private readonly files = new Map<string, number>();
  private readonly format: LineFormat;
  private readonly own: PlainView;
  private closed = false;

  constructor(
    private readonly window: string,
    o: DemoOptions,
  ) {
    this.format = new LineFormat(o.json === true, o.color);
    this.own = new PlainView({ json: o.json, color: o.color });
  }

  /** The file of `name`'s pane, made (with its pane) on first use. */
  pane(name: string): number {
    let fd = this.files.get(name);
    if (fd !== undefined) return fd;
    const file = join(this.dir, name.replace(/[^A-Za-z0-9_-]/g, '_'));
    fd = openSync(file, 'a');
    this.files.set(name, fd);
    const made = tmux('split-window', '-d', '-t', this.window, '-P', '-F', '#{pane_id}', `exec tail -n +1 -f ${quote(file)}`);
    if (made.ok) {
      tmux('select-pane', '-t', made.out, '-T', name);
      tmux('select-layout', '-t', this.window, 'tiled');
    } else {
      this.own.say(`no pane for ${name} (${made.err}); its lines are in ${file}`);
    }
    return fd;
  }

  private write(name: string, text: string): void {
    if (this.closed) return;
    writeSync(this.pane(name), text + '\n');
  }

  event(e: TraceEvent): void {
    this.write(e.component, this.format.event(e));
  }

  line(name: string, text: string): void {
    this.write(name, this.format.line(name, text));
  }

  say(text: string, category?: Category, data?: Record<string, unknown>): void {
    this.own.say(text, category, data);
  }

  close(): void {
    this.closed = true;
    for (const fd of this.files.values()) closeSync(fd);
    this.files.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
