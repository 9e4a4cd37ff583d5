/** Driving `ftkit sns -u <id>` through its prompt, as a user would, from system tests; the sns system they use, and the steps the course's cases share. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Test } from 'tap';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { System, type SystemOptions } from '../../harness/launch/system.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { followOutput } from './output.js';

export interface SnsUser {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the match when the output after the previous match matches `re`. */
  until: (re: RegExp, ms?: number) => Promise<RegExpExecArray>;
  /** Resolves once the whole output matches `re` (order-free, moves nothing). */
  seen: (re: RegExp, ms?: number) => Promise<void>;
  /** Type a line (Enter included). */
  type: (line: string) => void;
  /** Type `line` and wait for the next prompt; resolves with what was printed before it. */
  command: (line: string, ms?: number) => Promise<string>;
  /** Ctrl-D; resolves with the exit code. */
  quit: () => Promise<number | null>;
}

export function startSnsUser(sys: System, id: string): SnsUser {
  const child = spawn(process.execPath, [FTKIT_BIN, 'sns', '-u', id, '--rm', sys.rmAddr, ...sys.securityArgs('client')], { stdio: ['pipe', 'pipe', 'pipe'] });
  const { output, until, seen } = followOutput(child, `user ${id}`, 30_000);
  const type = (line: string) => void child.stdin!.write(`${line}\n`);
  const command = async (line: string, ms?: number) => {
    type(line);
    const [, printed] = await until(/([\s\S]*?)Cmd> /, ms);
    return printed!;
  };
  const quit = async () => {
    if (child.exitCode !== null) return child.exitCode;
    child.stdin!.end();
    const [code] = (await once(child, 'exit')) as [number | null];
    return code;
  };
  return { child, output, until, seen, type, command, quit };
}

/**
 * Ask LIST until its answer includes `want` (the directory and the followers reach a group
 * through ftkit sync, within a second or so); resolves with that answer. Bounded: each try is
 * one request round trip.
 */
export async function listUntil(u: SnsUser, want: string, tries = 500): Promise<string> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    last = await u.command('LIST');
    if (last.includes(want)) return last;
  }
  throw new Error(`LIST never showed ${JSON.stringify(want)}; last:\n${last}`);
}

/** The banner and the first prompt, as the course's client prints them at login. */
export const BANNER = /===== TINY SNS CLIENT =====\nCommand Lists and Format:\nFOLLOW <username>\nUNFOLLOW <username>\nLIST\nTIMELINE\n=====\nCmd> /;

const data = <T>(e: TraceEvent) => e.data as T;
const groupOf = (e: TraceEvent) => data<{ group?: string }>(e).group ?? 'g1';

/** Resolves when the RM reports `n` ready replicas in group `g` (events from index `from` on). */
export function groupReady(sys: System, g: string, n: number, from = 0, ms = 20_000): Promise<TraceEvent> {
  return sys.rm.waitFor((e) => e.type === 'ready_changed' && groupOf(e) === g && data<{ ready: string[] }>(e).ready.length === n, ms, from);
}

/**
 * A system of sns replica groups (three of two replicas, passive, unless `options` says
 * otherwise) with every replica ready, and ftkit sync between the groups; `user(id)` starts a
 * client. Everything is stopped at teardown, clients included.
 */
export async function startSnsSystem(t: Test, options: SystemOptions = {}): Promise<{ sys: System; user: (id: string) => SnsUser }> {
  const sys = new System({ mode: 'passive', app: 'sns', groups: 3, replicas: 2, machines: 3, heartbeat: 0.2, heartbeatTimeout: 1, quiet: true, ...options });
  const users: SnsUser[] = [];
  t.teardown(async () => {
    for (const u of users) u.child.kill('SIGKILL');
    await sys.stop();
  });
  await sys.start();
  await Promise.all(sys.groupNames.map((g) => groupReady(sys, g, sys.options.replicas ?? 3)));
  startSync(sys);
  const user = (id: string) => {
    const u = startSnsUser(sys, id);
    users.push(u);
    return u;
  };
  return { sys, user };
}

/** Start ftkit sync between every group of `sys` (again, after a kill: it reads every outbox from the start). */
export function startSync(sys: System): void {
  sys.startSync();
}

/** The leader of each group, as the RM's status names it. */
export async function leaders(sys: System): Promise<Map<string, string>> {
  const status = JSON.parse(await sys.ctl({ op: 'status' })) as { groups: Array<{ name: string; leader: string }> };
  return new Map(status.groups.map((g) => [g.name, g.leader]));
}

/** The pid of server `name` now: the last one an LFD registered (after a relaunch, not the harness's own child). */
export function serverPid(sys: System, name: string): number {
  const registered = sys.machines
    .flatMap((lfd) => sys.proc(lfd).events)
    .filter((e) => e.type === 'server_registered' && data<{ server: string }>(e).server === name)
    .sort((a, b) => a.time - b.time);
  const last = registered.at(-1);
  if (!last) throw new Error(`no LFD has registered ${name}`);
  return data<{ pid: number }>(last).pid;
}

/**
 * kill -9 the leader of group `g`; resolves once the RM's view names another leader, with the
 * one killed and the index of the RM's events after that view (to await what follows, such as
 * the relaunched replica ready again).
 */
export async function killLeader(sys: System, g: string): Promise<{ killed: string; after: number }> {
  const killed = (await leaders(sys)).get(g)!;
  const mark = sys.rm.events.length;
  process.kill(serverPid(sys, killed), 'SIGKILL');
  const view = await sys.rm.waitFor((e) => e.type === 'view_changed' && groupOf(e) === g && !!data<{ leader?: string }>(e).leader && data<{ leader?: string }>(e).leader !== killed, 20_000, mark);
  return { killed, after: sys.rm.events.indexOf(view) + 1 };
}

/** A post as the client prints it: `2 (Tue Nov 14 23:49:25 2023) >> p21`. */
export function postLine(author: string, text: string): RegExp {
  return new RegExp(`${author} \\((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \\d]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}\\) >> ${text}\\n`);
}

/** How many times `re` occurs in what `u` has printed. */
export function count(u: SnsUser, re: RegExp): number {
  return u.output().match(new RegExp(re.source, 'g'))?.length ?? 0;
}

/** Each of `users` (id → client, at the prompt) follows every other; asserts each FOLLOW succeeds. */
export async function followEachOther(t: Test, users: Map<string, SnsUser>): Promise<void> {
  for (const [id, u] of users) {
    for (const other of users.keys()) if (other !== id) t.equal(await u.command(`FOLLOW ${other}`), 'Command completed successfully\n', `${id} follows ${other}`);
  }
}

/** Every user of `users` types TIMELINE; resolves once each is in its timeline. */
export async function enterTimelines(users: SnsUser[]): Promise<void> {
  for (const u of users) u.type('TIMELINE');
  await Promise.all(users.map((u) => u.until(/Now you are in the timeline\n/)));
}

/**
 * Wait until each follower's screen shows each post it should (bounded), then assert each shows
 * exactly once: `expected` lists [follower, author, text].
 */
export async function seenOnce(t: Test, expected: Array<[SnsUser, string, string]>, what = ''): Promise<void> {
  // In whatever order they arrive (posts from several groups); a post never shown fails the count below.
  await Promise.all(expected.map(([u, author, text]) => u.seen(postLine(author, text)).catch(() => undefined)));
  for (const [u, author, text] of expected) t.equal(count(u, postLine(author, text)), 1, `${text} appears once at a follower of ${author}${what}`);
}
