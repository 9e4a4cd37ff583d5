/**
 * `ftkit chat <user>`: the chat rooms' client. The RM (`--route least-loaded`) hands it the
 * replica with the fewest clients; it logs in, then reads commands at `:: `: JOIN, LEAVE, LIST,
 * CHAT. In CHAT mode it shows the last messages of its rooms and then each new one as it is said
 * (a subscription to its inbox, which follows failovers from the last message seen), and every
 * line typed is a message to its rooms. When its replica dies it says so, is handed another, and
 * carries on; no message is lost or shown twice.
 */
import type { Member } from '../lib/protocol/index.js';
import type { Security } from '../lib/net/index.js';
import type { Tracer } from '../lib/trace/index.js';
import { inboxTopic, type ChatMessage } from '../lib/protocol/index.js';
import { Session } from './session.js';
import { Watch } from './watch.js';
import { UserRequests } from './requests.js';

export const CHAT_PROMPT = ':: ';
/** Tries, each as long as this, to reach the master (the RM) before giving up. */
export const MASTER_TRIES = 3;
export const MASTER_TRY_MS = 3000;

export interface ChatIo {
  print(line: string): void;
  /** Text without a newline (the prompt, the dots of a reconnect). */
  write(text: string): void;
}

export interface ChatClientOptions {
  user: string;
  rm: string;
  security?: Security;
  io: ChatIo;
  tracer?: Tracer;
}

/** `alice: hello`, as the chat client prints a message. */
export function formatMessage(m: ChatMessage): string {
  return `${m.user}: ${m.text}`;
}

export class ChatClient {
  readonly session: Session;
  private readonly requests: UserRequests;
  private watch: Watch | undefined;
  private replica: Member | undefined;
  inChat = false;

  constructor(private readonly o: ChatClientOptions) {
    this.session = new Session({ name: `chat.${o.user}`, rm: o.rm, key: o.user, security: o.security, tracer: o.tracer, giveUpMs: 30_000, attemptTimeoutMs: 1000 });
    this.requests = new UserRequests(this.session, () => `login ${o.user}`);
    this.session.on('view', (_mode, replicas) => {
      const had = this.replica;
      this.replica = replicas[0];
      if (had && (!this.replica || this.replica.name !== had.name)) this.o.io.print('Lost connection with server. Reconnecting...');
    });
  }

  /** Reach the master and log in: true, or false after saying why. */
  async login(): Promise<boolean> {
    const io = this.o.io;
    this.session.start();
    for (let i = 0; this.session.view.length === 0; i++) {
      if (i === MASTER_TRIES) {
        io.print('');
        io.print('Unable to connect to master');
        return false;
      }
      if (i === 0) io.write('Master is unavailable. Attempting reconnect.');
      else io.write('.');
      await this.viewWithin(MASTER_TRY_MS);
    }
    const r = await this.call(`login ${this.o.user}`);
    if (r !== 'ok') {
      io.print('Unable to connect to master');
      return false;
    }
    io.print('Login Successful');
    io.write(CHAT_PROMPT);
    return true;
  }

  private viewWithin(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.session.off('view', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.session.on('view', done);
    });
  }

  async stop(): Promise<void> {
    this.watch?.stop();
    this.session.stop();
  }

  /** Every request of the chat is made as the logged-in user. */
  private call(payload: string): Promise<string | undefined> {
    return this.requests.asUser(payload);
  }

  async line(input: string): Promise<void> {
    if (this.inChat) {
      const text = input.trim();
      if (text && (await this.call(`say ${this.o.user} ${Date.now()} ${text}`)) !== 'ok') this.o.io.print('Message not sent');
      return;
    }
    await this.command(input.trim());
    if (!this.inChat) this.o.io.write(CHAT_PROMPT);
  }

  private async command(input: string): Promise<void> {
    const io = this.o.io;
    const [word = '', ...args] = input.split(/\s+/);
    const cmd = word.toUpperCase();
    const room = args[0];
    if ((cmd === 'JOIN' || cmd === 'LEAVE') && (!room || !/^[A-Za-z0-9_.-]{1,64}$/.test(room))) return io.print(`${cmd} takes a room name`);
    switch (cmd) {
      case 'JOIN': {
        const r = await this.call(`join ${this.o.user} ${room}`);
        return io.print(r === 'ok' ? 'Join Successful' : r === 'already' ? `You have already joined ${room}` : 'Command failed');
      }
      case 'LEAVE': {
        const r = await this.call(`leave ${this.o.user} ${room}`);
        return io.print(r === 'ok' ? 'Channel left successfully.' : r === 'not-member' ? `Not subscribed to ${room} to begin with.` : 'Command failed');
      }
      case 'LIST': {
        const r = await this.call(`list ${this.o.user}`);
        if (!r?.startsWith('{')) return io.print('Command failed');
        const { rooms, joined } = JSON.parse(r) as { rooms: string[]; joined: string[] };
        for (const line of ['All chat rooms:', ...rooms, "Chat rooms you've joined:", ...joined]) io.print(line);
        return;
      }
      case 'CHAT':
        return this.chat();
      default:
        return io.print('Invalid Command');
    }
  }

  private async chat(): Promise<void> {
    const io = this.o.io;
    const r = await this.call(`history ${this.o.user}`);
    if (!r?.startsWith('{')) return io.print('Command failed');
    const { rev, messages } = JSON.parse(r) as { rev: number; messages: ChatMessage[] };
    this.inChat = true;
    io.print('You are now in CHAT mode...');
    for (const m of messages) io.print(formatMessage(m));
    this.watch = new Watch({ name: `chat.watch.${this.o.user}`, topic: inboxTopic(this.o.user), from: rev, session: this.session, security: this.o.security, tracer: this.o.tracer });
    this.watch.on('event', (text) => io.print(formatMessage(JSON.parse(text) as ChatMessage)));
    this.watch.start();
  }
}
