/**
 * The demo's scripted users (`ftkit demo --app sns`, `--app chat`). They are the real clients
 * (SnsClient, ChatClient: the sessions, requests and subscriptions of `ftkit sns` and `ftkit
 * chat`) in the demo's own process, typed at as a person would type: log in, follow each other
 * across groups (or join a room), then post (or say something) every second or so. Each one's
 * screen appears under its name (`u1 │ > FOLLOW 2`, `u1 │ 2 (Thu …) >> post 3 from u2`), so the
 * posts made in one group are seen arriving live in the others. For sns the demo also starts
 * `ftkit sync`, a process of its own like every other component.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SnsClient } from '../../clients/sns.js';
import { ChatClient } from '../../clients/chat.js';
import type { Demo } from './demo.js';

/** The sns users: ids 1–4, so with three groups (`--route mod`) g1 has two and g2, g3 one each. */
export const SNS_USERS = ['1', '2', '3', '4'];
export const CHAT_USERS = ['alice', 'bob', 'carol'];
/** The room every chat user joins. */
export const CHAT_ROOM = 'general';
/** About how often each user posts; each waits a little more or less, so the lines interleave. */
const POST_EVERY_MS = 1200;
/** How often a user asks LIST while it waits for the others to reach its group (through ftkit sync). */
const POLL_MS = 500;

/** What a client needs: it prints lines, and is typed at (a command, a post). */
interface Typed {
  line(input: string): Promise<void>;
  stop(): Promise<void>;
}

/** One scripted user: its client, and its screen shown under its name. */
class User {
  /** Lines a silent command printed (LIST while waiting), taken instead of shown. */
  private captured: string[] | undefined;
  client: Typed | undefined;

  constructor(
    readonly name: string,
    private readonly show: (line: string) => void,
    private readonly stopped: AbortSignal,
  ) {}

  /** The client's output: shown, or taken by a silent command. */
  readonly print = (line: string): void => {
    if (this.stopped.aborted) return;
    if (this.captured) this.captured.push(line);
    else this.show(line);
  };

  /** Type `line` where the demo's watcher sees it, and let the client answer on screen. */
  async type(line: string): Promise<void> {
    this.show(`> ${line}`);
    await this.client!.line(line);
  }

  /** Do `what` (type a line, log in) without showing what the client prints; resolves with it. */
  async quietly(what: () => Promise<unknown>): Promise<string[]> {
    const lines: string[] = [];
    this.captured = lines;
    try {
      await what();
      return lines;
    } finally {
      this.captured = undefined;
    }
  }

  /** Wait `ms`; false if the demo stops meanwhile. */
  async pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.stopped });
      return true;
    } catch {
      return false;
    }
  }
}

/** The scripted users of a demo; `start()` sets them going, `stop()` logs them out. */
export class ScriptedUsers {
  private readonly users: User[] = [];
  private readonly abort = new AbortController();
  private readonly runs: Array<Promise<void>> = [];

  constructor(private readonly demo: Demo) {}

  /** The command that opens a person's own client beside the scripted ones. */
  ownClient(): string {
    const { app, basePort, tls } = this.demo.options;
    const who = app === 'sns' ? 'sns -u 7' : 'chat dave';
    return `ftkit ${who} --rm 127.0.0.1:${basePort}${tls ? ` --tls-ca ${tls.ca}` : ''}`;
  }

  start(): void {
    const sns = this.demo.options.app === 'sns';
    const names = sns ? SNS_USERS : CHAT_USERS;
    for (const [i, name] of names.entries()) {
      const user = new User(sns ? `u${name}` : name, (line) => this.demo.view.line(user.name, line), this.abort.signal);
      this.users.push(user);
      this.runs.push(
        (sns ? this.snsUser(user, name, names) : this.chatUser(user, name, i)).catch((err: Error) => {
          if (!this.abort.signal.aborted) this.demo.say(`${user.name}: the script stopped: ${err.message}`, 'fault');
        }),
      );
    }
  }

  /** Log in; follow every other user once LIST shows them all (they reach this group through ftkit sync); TIMELINE; post. */
  private async snsUser(user: User, id: string, all: string[]): Promise<void> {
    const { rm, security } = this.clientAddress();
    const client = new SnsClient({ user: id, rm, security, io: { print: user.print, prompt: () => {} } });
    user.client = client;
    // The banner, four times over, would say nothing new: the login's lines are left out.
    let ok = false;
    const login = await user.quietly(async () => (ok = await client.login()));
    if (!ok) return user.print(login.join(' '));
    user.print(`logged in as user ${id}`);
    const everyone = `All users: ${all.join(', ')}`;
    while (!(await user.quietly(() => client.line('LIST'))).includes(everyone)) if (!(await user.pause(POLL_MS))) return;
    for (const other of all) if (other !== id) await user.type(`FOLLOW ${other}`);
    await user.type('TIMELINE');
    await this.postEvery(user, (n) => `post ${n} from u${id}`);
  }

  /** Log in (to the replica the RM hands it); JOIN the room; CHAT; say something now and then. */
  private async chatUser(user: User, name: string, i: number): Promise<void> {
    const { rm, security } = this.clientAddress();
    const client = new ChatClient({ user: name, rm, security, io: { print: user.print, write: () => {} } });
    user.client = client;
    if (!(await client.login())) return;
    // What least-loaded routing chose, which the user's screen does not say.
    user.print(`(served by ${client.session.view.map((m) => m.name).join(', ') || 'no replica'})`);
    await user.type(`JOIN ${CHAT_ROOM}`);
    await user.type('CHAT');
    await this.postEvery(user, (n) => `${['hi', 'hello', 'hey'][i % 3]} #${n} from ${name}`);
  }

  private async postEvery(user: User, text: (n: number) => string): Promise<void> {
    for (let n = 1; await user.pause(POST_EVERY_MS * (0.75 + Math.random() / 2)); n++) await user.type(text(n));
  }

  private clientAddress() {
    return { rm: this.demo.system.rmAddr, security: this.demo.system.security };
  }

  /** Stop every script and log every user out (sns: `logout`), before the system stops. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.users.map((u) => u.client?.stop().catch(() => undefined)));
    await Promise.all(this.runs);
  }
}
