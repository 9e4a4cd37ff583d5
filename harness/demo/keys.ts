/**
 * The demo's keys, on a terminal: faults to inject into a running demo, its status, its help.
 * `p` and `l` take a replica's or a machine's number as the next key.
 */
import type { Demo } from './demo.js';

export const KEYS_HELP = [
  'keys: 1/2/3 kill S1/S2/S3 (SIGKILL) · p then 1/2/3 pause or resume S1/S2/S3 (SIGSTOP/SIGCONT)',
  '      l then 1/2/3 kill LFD1/LFD2/LFD3 · g kill the GFD · r kill the RM (the same key again starts it again)',
  '      s status · h or ? this help · q quit (stops everything in order; Ctrl-C too)',
];

/** What a key does; `pending` is the key waiting for a number (`p`, `l`). */
export class Keys {
  private pending: 'p' | 'l' | undefined;

  constructor(
    private readonly demo: Demo,
    private readonly quit: () => void,
  ) {}

  help(): void {
    for (const line of KEYS_HELP) this.demo.say(line);
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
    if (pending) {
      if (key === '1' || key === '2' || key === '3') {
        if (pending === 'p') return this.demo.togglePause(`S${key}`);
        return void this.demo.killOrStart(`LFD${key}`);
      }
      if (key === '\u001b') return this.demo.say(`${pending}: cancelled`);
      this.demo.say(`${pending} takes 1, 2 or 3 next, not ${describe(key)}`);
      // Fall through: the key still does what it does on its own (q still quits).
      if (key !== 'q' && key !== '\u0003') return;
    }
    switch (key) {
      case '1':
      case '2':
      case '3':
        this.demo.kill(`S${key}`);
        return;
      case 'p':
        this.pending = 'p';
        return this.demo.say('pause or resume which replica? 1, 2 or 3');
      case 'l':
        this.pending = 'l';
        return this.demo.say('kill (or start again) which LFD? 1, 2 or 3');
      case 'g':
        return void this.demo.killOrStart('GFD');
      case 'r':
        return void this.demo.killOrStart('RM');
      case 's':
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
