/**
 * `ftkit sns -u <id>`: the social network's client as the course's users know it. It logs in to
 * the group its id routes to (the RM routes it by key), then reads commands at `Cmd> `: FOLLOW,
 * UNFOLLOW, LIST, TIMELINE. In TIMELINE mode it shows the last posts of the users it follows and
 * then each new one as it is made (a subscription to its timeline, which follows failovers),
 * and every line typed is a post. Every request goes through one session, so a failover is
 * retried underneath; a command whose group stays down prints `Command failed` and the prompt
 * comes back.
 */
import { randomBytes } from 'node:crypto';
import dayjs from 'dayjs';
import type { Security } from '../lib/net/index.js';
import { Tracer } from '../lib/trace/index.js';
import { Session } from './session.js';
import { Watch } from './watch.js';
import { UserRequests } from './requests.js';
import { timelineTopic, type Post } from '../lib/protocol/index.js';

export const BANNER = ['===== TINY SNS CLIENT =====', 'Command Lists and Format:', 'FOLLOW <username>', 'UNFOLLOW <username>', 'LIST', 'TIMELINE', '====='];
export const PROMPT = 'Cmd> ';
/** How long a command (or the login) waits for its group before it fails. */
export const COMMAND_GIVE_UP_MS = 3000;
/** How often the client tells its group it is still logged in. */
const KEEPALIVE_MS = 10_000;

export interface SnsIo {
  /** One line of output. */
  print(line: string): void;
  /** Show the prompt (no newline). */
  prompt(text: string): void;
}

export interface SnsClientOptions {
  user: string;
  rm: string;
  security?: Security;
  io: SnsIo;
  tracer?: Tracer;
  /** Request timeouts (tests shorten them). */
  giveUpMs?: number;
}

const RESULTS: Record<string, string> = {
  ok: 'Command completed successfully',
  exists: 'Input username already exists, command failed',
  invalid: 'Command failed with invalid username',
  'not-follower': 'Command failed with not a follower',
};

/** `2 (Tue Nov 14 23:49:25 2023) >> p21`, as the course's client prints a post. */
export function formatPost(p: Post): string {
  const d = dayjs(p.time);
  return `${p.author} (${d.format('ddd MMM')} ${String(d.date()).padStart(2, ' ')} ${d.format('HH:mm:ss YYYY')}) >> ${p.text}`;
}

export class SnsClient {
  readonly session: Session;
  private readonly token = randomBytes(8).toString('hex');
  private readonly requests: UserRequests;
  private keepalive: NodeJS.Timeout | undefined;
  private watch: Watch | undefined;
  /** In TIMELINE mode: every line is a post. */
  inTimeline = false;

  constructor(private readonly o: SnsClientOptions) {
    this.session = new Session({ name: `U${o.user}`, rm: o.rm, key: o.user, security: o.security, tracer: o.tracer, giveUpMs: o.giveUpMs ?? COMMAND_GIVE_UP_MS, attemptTimeoutMs: 1000 });
    this.requests = new UserRequests(this.session, () => `login ${this.o.user} ${this.token} ${Date.now()}`);
  }

  /** Log in: true when the group took us; false (after printing `connection failed: -1`) when not. */
  async login(): Promise<boolean> {
    this.session.start();
    const r = await this.call(`login ${this.o.user} ${this.token} ${Date.now()}`);
    if (r !== 'ok') {
      this.o.io.print('connection failed: -1');
      return false;
    }
    this.keepalive = setInterval(() => void this.call(`login ${this.o.user} ${this.token} ${Date.now()}`), KEEPALIVE_MS);
    for (const line of BANNER) this.o.io.print(line);
    this.o.io.prompt(PROMPT);
    return true;
  }

  async stop(): Promise<void> {
    clearInterval(this.keepalive);
    this.watch?.stop();
    await this.call(`logout ${this.o.user} ${this.token}`, 1000);
    this.session.stop();
  }

  private call(payload: string, giveUpMs?: number): Promise<string | undefined> {
    return this.requests.call(payload, giveUpMs);
  }

  private asUser(payload: string): Promise<string | undefined> {
    return this.requests.asUser(payload);
  }

  /** A line typed: a command at the prompt, a post in TIMELINE mode. */
  async line(input: string): Promise<void> {
    if (this.inTimeline) {
      const text = input.trim();
      if (!text) return;
      const r = await this.asUser(`post ${this.o.user} ${Date.now()} ${text}`);
      if (r !== 'ok') this.o.io.print('Command failed');
      return;
    }
    await this.command(input.trim());
    if (!this.inTimeline) this.o.io.prompt(PROMPT);
  }

  private async command(input: string): Promise<void> {
    const io = this.o.io;
    const [word = '', ...args] = input.split(/\s+/);
    const cmd = word.toUpperCase();
    if (!['FOLLOW', 'UNFOLLOW', 'LIST', 'TIMELINE'].includes(cmd)) return io.print('Invalid Command');
    const takesArg = cmd === 'FOLLOW' || cmd === 'UNFOLLOW';
    if (takesArg && args.length === 0) return io.print('Invalid Input -- No Arguments Given');
    if (!takesArg && args.length > 0) return io.print('Invalid Input -- Only FOLLOW and UNFOLLOW commands have Arguments');
    if (takesArg) {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(args[0]!)) return io.print('Command failed with invalid username');
      const r = await this.asUser(`${cmd.toLowerCase()} ${this.o.user} ${args[0]}`);
      return io.print(r === undefined ? 'Command failed' : (RESULTS[r] ?? 'Command failed with unknown reason'));
    }
    if (cmd === 'LIST') {
      const r = await this.asUser(`list ${this.o.user}`);
      if (r === undefined || !r.startsWith('{')) return io.print('Command failed');
      const { users, followers } = JSON.parse(r) as { users: string[]; followers: string[] };
      io.print(`All users: ${users.join(', ')}`);
      return io.print(`Followers: ${followers.join(', ')}`);
    }
    const r = await this.asUser(`timeline ${this.o.user}`);
    if (r === undefined || !r.startsWith('{')) return io.print('Command failed');
    const { rev, posts } = JSON.parse(r) as { rev: number; posts: Post[] };
    this.inTimeline = true;
    io.print('Now you are in the timeline');
    for (const p of posts) io.print(formatPost(p));
    this.watch = new Watch({ name: `W${this.o.user}`, topic: timelineTopic(this.o.user), from: rev, session: this.session, security: this.o.security, tracer: this.o.tracer });
    this.watch.on('event', (text) => io.print(formatPost(JSON.parse(text) as Post)));
    this.watch.start();
  }
}
