/**
 * The social network's post delivery (`npm run bench -- --only sns`): how long a post takes to
 * reach a follower's live timeline. Three sns replica groups and ftkit sync between them; user
 * 2 (g2) posts, user 1 (g1) and user 5 (g2) follow it and watch their timelines (a subscription,
 * as `ftkit sns` in TIMELINE mode does). Latency is from the post request being sent to the
 * event arriving at the follower: across groups it includes g2's commit, ftkit sync carrying the
 * outbox entry to g1 as a request, g1's commit and the push; within g2, only the commit and the
 * push. Posts come from several sessions at once, each paced. Every clock read is this process's.
 * Figures are printed, never asserted.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { System } from '../harness/launch/system.js';
import type { Mode } from '../lib/protocol/index.js';
import { timelineTopic, type Post } from '../lib/protocol/index.js';
import { Session } from '../clients/session.js';
import { Watch } from '../clients/watch.js';
import { leanStdout } from './harness.js';
import { waitGroupsReady } from './groups.js';
import { fmt, percentile, preciseNow, sleep, table } from './stats.js';

/** The goal: a post on a follower's screen within a second (the course's originals sync every 30 s). */
export const SNS_GOAL_MS = 1000;

export interface SnsBenchOptions {
  mode: Mode;
  replicas: number;
  posts: number;
  /** Sessions posting at once, each sending its next post `paceMs` after the last was acknowledged. */
  concurrency: number;
  paceMs: number;
  log: (line: string) => void;
}

export interface SnsPath {
  path: string;
  count: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  max: number;
}

export interface SnsResult {
  options: Omit<SnsBenchOptions, 'log'>;
  posts: number;
  acked: number;
  seconds: number;
  /** The machine's 1-minute load average when the posts began (other work on it shows here). */
  load: number;
  paths: SnsPath[];
}

const POSTER = '2';
const FOLLOWERS: Array<{ user: string; path: string }> = [
  { user: '1', path: 'cross-group (g2 -> g1)' },
  { user: '5', path: 'same group (g2)' },
];

/** A request that must succeed (set-up): its result. */
async function must(s: Session, payload: string): Promise<string> {
  const o = await s.request(payload);
  if (o.status !== 'ok') throw new Error(`${s.name}: ${payload} failed (${o.status})`);
  return o.result;
}

/** Ask until the result satisfies `ok` (what ftkit sync carries takes a moment to arrive); bounded. */
async function until(s: Session, payload: string, ok: (r: string) => boolean, ms = 20_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await must(s, payload);
    if (ok(r)) return r;
    if (Date.now() > deadline) throw new Error(`${s.name}: ${payload} still answers ${r} after ${ms} ms`);
    await sleep(50);
  }
}

export async function runSns(o: SnsBenchOptions): Promise<SnsResult> {
  const sys = new System({ mode: o.mode, app: 'sns', groups: 3, replicas: o.replicas, machines: 3, heartbeat: 0.5, quiet: true, rmArgs: ['--route', 'mod'] });
  const sessions: Session[] = [];
  const watches: Watch[] = [];
  const session = (name: string, key: string) => {
    const s = new Session({ name, rm: sys.rmAddr, key, security: sys.security, giveUpMs: 20_000, attemptTimeoutMs: 2000 });
    s.start();
    sessions.push(s);
    return s;
  };
  try {
    await sys.start();
    await waitGroupsReady(sys, 3, o.replicas);
    sys.group.spawn('sync', ['sync', '--rm', sys.rmAddr, '--groups', sys.groupNames.join(','), '--json', '--quiet', ...sys.securityArgs('client')]);
    for (const p of sys.group.procs.values()) leanStdout(p);

    // Users log in to their groups; the followers follow 2 once its group is known to theirs.
    const token = randomBytes(4).toString('hex');
    const poster = session(`U${POSTER}`, POSTER);
    await must(poster, `login ${POSTER} ${token} ${Date.now()}`);
    const sent = new Map<string, number>();
    const arrived = FOLLOWERS.map(() => new Map<string, number>());
    for (const [i, f] of FOLLOWERS.entries()) {
      const s = session(`U${f.user}`, f.user);
      await must(s, `login ${f.user} ${token} ${Date.now()}`);
      await until(s, `follow ${f.user} ${POSTER}`, (r) => r === 'ok');
      const { rev } = JSON.parse(await must(s, `timeline ${f.user}`)) as { rev: number };
      const w = new Watch({ name: `W${f.user}`, topic: timelineTopic(f.user), from: rev, session: s, security: sys.security });
      w.on('event', (text) => {
        const at = preciseNow();
        const id = (JSON.parse(text) as Post).text;
        if (!arrived[i]!.has(id)) arrived[i]!.set(id, at);
      });
      w.start();
      watches.push(w);
    }
    // Posts count once the follows have reached 2's group.
    await until(poster, `list ${POSTER}`, (r) => FOLLOWERS.every((f) => (JSON.parse(r) as { followers: string[] }).followers.includes(f.user)));

    o.log(`sns: ${o.posts} posts from ${o.concurrency} sessions, ${o.paceMs} ms apart each, to followers in g1 and g2`);
    const posters = Array.from({ length: o.concurrency }, (_, k) => (k === 0 ? poster : session(`P${k}`, POSTER)));
    let next = 0;
    let acked = 0;
    const started = preciseNow();
    const load = loadavg()[0]!;
    await Promise.all(
      posters.map(async (s) => {
        for (let n = next++; n < o.posts; n = next++) {
          const id = `bench-${n}`;
          sent.set(id, preciseNow());
          const r = await s.request(`post ${POSTER} ${Date.now()} ${id}`);
          if (r.status === 'ok' && r.result === 'ok') acked++;
          await sleep(o.paceMs);
        }
      }),
    );
    // Wait (bounded) for the followers to see every post.
    const deadline = Date.now() + 30_000;
    while (arrived.some((a) => a.size < sent.size) && Date.now() < deadline) await sleep(50);
    const seconds = (preciseNow() - started) / 1000;
    const paths = FOLLOWERS.map((f, i): SnsPath => {
      const ms = [...arrived[i]!].map(([id, at]) => at - sent.get(id)!).sort((a, b) => a - b);
      return { path: f.path, count: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.at(-1) ?? NaN };
    });
    const { log: _log, ...options } = o;
    return { options, posts: sent.size, acked, seconds, load, paths };
  } finally {
    for (const w of watches) w.stop();
    for (const s of sessions) s.stop();
    await sys.stop();
  }
}

export function printSns(r: SnsResult): void {
  const o = r.options;
  console.log(`\nsns: post delivery to a live timeline, ${o.mode}, 3 groups of ${o.replicas} + ftkit sync; ${r.posts} posts (${r.acked} acknowledged) from ${o.concurrency} sessions, ${o.paceMs} ms apart each, in ${fmt(r.seconds)} s; load average ${fmt(r.load)}`);
  const rows = [['path', 'delivered', 'p50 ms', 'p99 ms', 'max ms', `goal: p99 < ${SNS_GOAL_MS} ms`]];
  for (const p of r.paths) rows.push([p.path, `${p.count}/${r.posts}`, fmt(p.p50), fmt(p.p99), fmt(p.max), p.count === r.posts && p.p99 < SNS_GOAL_MS ? 'met' : 'NOT met']);
  console.log(table(rows));
  console.log('(latency: from the post request sent to the event at the follower; the course\'s original clients sync every 30 s)');
}
