/**
 * The demo's keys, on a terminal: faults to inject into a running demo (crashes, pauses, and
 * with an RM fail-slow faults on the leader), its status, its help.
 * `p` and `l` take a replica's or a machine's number as the next key. Where nothing relaunches a
 * replica (no RM, or --no-auto-restart), its number key starts it again by hand once it is down.
 */
import type { Demo } from './demo.js';
import type { SlowKind } from '../../lib/faults.js';

/** The fail-slow keys: what each injects into the leader. */
const SLOW_KEYS: Record<string, SlowKind | 'clear'> = { c: 'cpu-hog', m: 'mem-hog', d: 'delay', n: 'clear' };

/** What a set-up has, for the keys: how many replicas, a GFD, an RM; whether replicas are relaunched by hand. */
export interface KeySetUp {
  replicas: number;
  /** Machines (LFDs), when not one per replica. */
  machines?: number;
  gfd: boolean;
  rm: boolean;
  byHand: boolean;
}

export const FULL_SET_UP: KeySetUp = { replicas: 3, gfd: true, rm: true, byHand: false };

/** The key help for a set-up (the full demo's by default). */
export function keysHelp(s: KeySetUp = FULL_SET_UP): string[] {
  const numbers = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));
  const nums = numbers(s.replicas);
  const machines = numbers(s.machines ?? s.replicas);
  const each = (prefix: string, of = nums) => (of.length > 3 ? `${prefix}${of[0]}…${prefix}${of[of.length - 1]}` : of.map((n) => prefix + n).join('/'));
  const keys = (of: string[]) => (of.length > 3 ? `${of[0]}…${of[of.length - 1]}` : of.join('/'));
  const again = s.byHand ? ', or start it again by hand once it is down' : '';
  const control = [`l then ${keys(machines)} kill ${each('LFD', machines)}`, ...(s.gfd ? ['g kill the GFD'] : []), ...(s.rm ? ['r kill the RM'] : [])];
  return [
    `keys: ${keys(nums)} kill ${each('S')} (SIGKILL)${again} · p then ${keys(nums)} pause or resume ${each('S')} (SIGSTOP/SIGCONT)`,
    `      ${control.join(' · ')} (the same key again starts it again)`,
    `      ${s.rm ? 's status · ' : ''}h or ? this help · q quit (stops everything in order; Ctrl-C too)`,
    ...(s.rm ? ['      c cpu-hog · m mem-hog · d delay 50 ms: make the leader fail-slow · n clear it'] : []),
  ];
}

export const KEYS_HELP = keysHelp();

/** What a key does; `pending` is the key waiting for a number (`p`, `l`). */
export class Keys {
  private pending: 'p' | 'l' | undefined;

  constructor(
    private readonly demo: Demo,
    private readonly quit: () => void,
  ) {}

  help(): void {
    for (const line of keysHelp(this.demo.setUp)) this.demo.say(line);
  }

  /** A replica's number key: kill it; where replicas are relaunched by hand and it is down, start it again. */
  private replica(server: string): void {
    if (this.demo.setUp.byHand && this.demo.serverPid(server) === undefined) return void this.demo.relaunch(server);
    this.demo.kill(server);
  }

  /** One chunk typed (a terminal sends an escape sequence, e.g. an arrow key, as one chunk). */
  typed(chunk: string): void {
    if (chunk.startsWith('\u001b') && chunk.length > 1) return this.press(chunk);
    for (const key of chunk) this.press(key);
  }

  press(key: string): void {
    if (this.demo.isStopping) return;
    const pending = this.pending;
    this.pending = undefined;
    const { replicas, gfd, rm } = this.demo.setUp;
    const machines = this.demo.setUp.machines ?? replicas;
    const listOf = (n: number) => (n === 1 ? '1' : Array.from({ length: n }, (_, i) => i + 1).join(', ').replace(/, (\d+)$/, ' or $1'));
    const choices = listOf(pending === 'l' ? machines : replicas);
    if (pending) {
      if (/^[1-9]$/.test(key)) {
        if (Number(key) > (pending === 'p' ? replicas : machines)) return this.demo.say(`${pending} takes ${choices}: there is no machine ${key} in this set-up`);
        if (pending === 'p') return this.demo.togglePause(`S${key}`);
        return void this.demo.killOrStart(`LFD${key}`);
      }
      if (key === '\u001b') return this.demo.say(`${pending}: cancelled`);
      this.demo.say(`${pending} takes ${choices} next, not ${describe(key)}`);
      // Fall through: the key still does what it does on its own (q still quits).
      if (key !== 'q' && key !== '\u0003') return;
    }
    switch (key) {
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9':
        if (Number(key) > replicas) return this.demo.say(`there is no S${key} in this set-up; h for help`);
        return this.replica(`S${key}`);
      case 'p':
        this.pending = 'p';
        return this.demo.say(`pause or resume which replica? ${choices}`);
      case 'l':
        this.pending = 'l';
        return this.demo.say(`kill (or start again) which LFD? ${listOf(machines)}`);
      case 'g':
        if (!gfd) return this.demo.say('there is no GFD in this set-up; h for help');
        return void this.demo.killOrStart('GFD');
      case 'r':
        if (!rm) return this.demo.say('there is no RM in this set-up; h for help');
        return void this.demo.killOrStart('RM');
      case 'c':
      case 'm':
      case 'd':
      case 'n':
        if (!rm) return this.demo.say(`${key} asks the RM to make the leader fail-slow, and there is no RM in this set-up; h for help`);
        return void this.demo.slowFaults.press(SLOW_KEYS[key]);
      case 's':
        if (!rm) return this.demo.say('s asks the RM for its status, and there is no RM in this set-up; h for help');
        return void this.demo.status();
      case 'h':
      case '?':
        return this.help();
      case 'q':
      case '\u0003':
        return this.quit();
      case '\r':
      case '\n':
        return;
      default:
        this.demo.say(`unknown key ${describe(key)}; h for help`);
    }
  }
}

function describe(key: string): string {
  return /^[\x21-\x7e]$/.test(key) ? `'${key}'` : JSON.stringify(key);
}

/** Keys act on the demo when stdin is a terminal; false when it is not. */
export function enableKeys(demo: Demo, quit: () => void): boolean {
  if (!process.stdin.isTTY) return false;
  const keys = new Keys(demo, quit);
  process.stdin.setRawMode(true);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => keys.typed(chunk));
  demo.onStopping = () => {
    process.stdin.setRawMode(false);
    process.stdin.pause();
  };
  keys.help();
  return true;
}
