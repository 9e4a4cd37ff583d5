/**
 * How far one RM and one GFD go (`npm run bench -- --only rm-scale`; docs/SCALING.md).
 *
 * RM: a real `ftkit rm` process (passive, open, quiet), driven from this process by a stand-in
 * GFD speaking the protocol (register, membership, reports; it answers the RM's queries as the
 * replicas would) and by stand-in clients (`<C, client, key>`, each its own connection). With G
 * groups of 3 replicas and C clients connected, it measures the RM's CPU (its threads' run time,
 * /proc/PID/task/TID/schedstat) per client joining (connect and first view), per discovery (a
 * connected client asking again), and per failover cycle: a leader's membership delete, the
 * election (queries, the survivors' reports, new roles, the new view pushed to the group's
 * clients), then the old leader's add, its checkpoint order and its ready report.
 *
 * GFD: a real `ftkit gfd --no-rm` heartbeating L stand-in LFDs that answer every heartbeat; its
 * CPU per heartbeat per LFD (above its CPU with no LFD). Figures are printed, never asserted.
 */
import { ProcGroup, type Proc } from '../harness/launch/proc.js';
import * as net from 'node:net';
import { Connection, connect, parseAddress } from '../lib/net/index.js';
import type { Message } from '../lib/protocol/index.js';
import { leanStdout, readMem } from './harness.js';
import { runtimeOf } from './idle.js';
import { fmt, sleep, table } from './stats.js';

export interface RmScaleOptions {
  /** Group counts (3 replicas each), each with a fresh RM. */
  groups: number[];
  /** Client counts, reached in turn on each RM (clients are added, never removed). */
  clients: number[];
  /** Failover cycles per (groups, clients). */
  cycles: number;
  /** Discoveries per client per (groups, clients). */
  asks: number;
  /** LFD counts for the GFD, and its heartbeat period (s), and the window (ms). */
  lfds: number[];
  heartbeat: number;
  gfdWindowMs: number;
}

export const RM_SCALE_FULL: RmScaleOptions = { groups: [3, 30], clients: [0, 1000, 4000], cycles: 30, asks: 3, lfds: [0, 3, 30, 300], heartbeat: 0.1, gfdWindowMs: 5000 };
export const RM_SCALE_QUICK: RmScaleOptions = { groups: [3], clients: [0, 100], cycles: 4, asks: 2, lfds: [0, 3], heartbeat: 0.1, gfdWindowMs: 1000 };

export interface RmRow {
  groups: number;
  clients: number;
  /** RM CPU µs per client that joined since the previous row (connect, handshake, first view); NaN for the first row. */
  joinUs: number;
  /** RM CPU µs per discovery of an already connected client. */
  askUs: number;
  /** RM CPU ms per failover cycle, and views the clients received per cycle. */
  cycleMs: number;
  viewsPerCycle: number;
  /** Wall time per cycle (ms): the stand-in GFD waits for each answer before the next step. */
  cycleWallMs: number;
  rssMB: number;
}

export interface GfdRow {
  lfds: number;
  heartbeat: number;
  /** GFD CPU, percent of one core; and µs per heartbeat per LFD above the row with no LFD. */
  cpuPct: number;
  usPerHeartbeat: number;
  /** Stand-in LFD connections the GFD had closed by the end of the window (the row is then not to be trusted). */
  lost: number;
}

export interface RmScaleResult {
  rm: RmRow[];
  gfd: GfdRow[];
  failures: string[];
}

/** A connection that keeps what arrives and lets a caller wait for the first message matching. */
class Peer {
  /** A client's routing key. */
  key: string | undefined;
  private waiters: Array<{ match: (m: Message) => boolean; resolve: (m: Message) => void }> = [];
  received = 0;

  constructor(
    readonly conn: Connection,
    private readonly onOther?: (m: Message) => void,
  ) {
    conn.on('message', (m) => {
      this.received++;
      const i = this.waiters.findIndex((w) => w.match(m));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
      else this.onOther?.(m);
    });
  }

  next<T extends Message>(match: (m: Message) => boolean, ms = 60_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (m: Message) => (clearTimeout(t), resolve(m as T)) };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no matching message within ${ms} ms`));
      }, ms);
      this.waiters.push(w);
    });
  }
}

interface Replica {
  name: string;
  addr: string;
  lfd: string;
}

interface FakeGroup {
  name: string;
  replicas: Replica[];
  leader: string;
  epoch: number;
}

const report = (server: string, role: 'primary' | 'backup', epoch: number, checkpoint = 0): Message => ({ type: 'report', server, mode: 'passive', role, epoch, ready: true, checkpoint, seq: 0, held: epoch });

/** Bring up `count` groups of 3 at the RM: the first replica of each is elected, the others catch up. */
async function joinGroups(gfd: Peer, count: number): Promise<FakeGroup[]> {
  const groups: FakeGroup[] = [];
  let port = 20000;
  for (let k = 1; k <= count; k++) {
    const replicas = [0, 1, 2].map((i) => ({ name: `S${(k - 1) * 3 + i + 1}`, addr: `127.0.0.1:${port++}`, lfd: `LFD${((k - 1 + i) % 3) + 1}` }));
    const g: FakeGroup = { name: `g${k}`, replicas, leader: replicas[0]!.name, epoch: 1 };
    for (const r of replicas) {
      const ordered = r === replicas[0] ? gfd.next((m) => m.type === 'role' && m.server === r.name && m.role === 'primary') : gfd.next((m) => m.type === 'sendCheckpoint' && m.target.name === r.name);
      gfd.conn.send({ type: 'membership', from: r.lfd, server: r.name, action: 'add', addr: r.addr, group: g.name });
      await ordered;
      if (r === replicas[0]) continue;
      const ready = gfd.next((m) => m.type === 'role' && m.server === r.name && m.ready);
      gfd.conn.send(report(r.name, 'backup', g.epoch, 1));
      await ready;
    }
    groups.push(g);
  }
  return groups;
}

/** One failover cycle in group `g`: its leader leaves, the two others are asked and answer, one is elected; the old leader rejoins and catches up. */
async function failover(gfd: Peer, g: FakeGroup): Promise<void> {
  const old = g.replicas.find((r) => r.name === g.leader)!;
  const others = g.replicas.filter((r) => r !== old);
  const queries = others.map((r) => gfd.next((m) => m.type === 'query' && m.server === r.name));
  gfd.conn.send({ type: 'membership', from: old.lfd, server: old.name, action: 'delete', addr: old.addr, group: g.name });
  await Promise.all(queries);
  const elected = gfd.next<Extract<Message, { type: 'role' }>>((m) => m.type === 'role' && m.role === 'primary' && m.epoch === g.epoch + 1);
  for (const r of others) gfd.conn.send(report(r.name, 'backup', g.epoch));
  const role = await elected;
  g.epoch++;
  g.leader = role.server;
  const ordered = gfd.next((m) => m.type === 'sendCheckpoint' && m.target.name === old.name);
  gfd.conn.send({ type: 'membership', from: old.lfd, server: old.name, action: 'add', addr: old.addr, group: g.name });
  await ordered;
  const ready = gfd.next((m) => m.type === 'role' && m.server === old.name && m.ready && m.epoch === g.epoch);
  gfd.conn.send(report(old.name, 'backup', g.epoch, g.epoch));
  await ready;
}

/**
 * A client connection from 127.0.0.`n`: the RM's listener admits at most 1,024 connections per
 * source address (and 32 that have not said who they are yet), so thousands of clients come from
 * several loopback addresses, as they would from several hosts.
 */
function dialFrom(rm: string, me: string, localAddress: string): Promise<Connection> {
  const { host, port } = parseAddress(rm);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(new Connection(socket, { me }));
    });
  });
}

/** Open `n` more clients (names C<first>…), keys 1…, each asking once; resolves when every one has its view. */
async function openClients(rm: string, first: number, n: number, views: { count: number }): Promise<Peer[]> {
  const out: Peer[] = [];
  const BATCH = 30;
  for (let i = 0; i < n; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, n - i) }, async (_, j) => {
        const name = `C${first + i + j}`;
        const from = `127.0.0.${2 + Math.floor((first + i + j) / 1000)}`;
        const peer = new Peer(await dialFrom(rm, name, from), (m) => m.type === 'view' && views.count++);
        const got = peer.next((m) => m.type === 'view');
        peer.conn.peer = name;
        peer.key = String(first + i + j);
        peer.conn.send({ type: 'client', client: name, key: peer.key });
        await got;
        return peer;
      }),
    );
    out.push(...batch);
  }
  return out;
}

async function askAll(clients: Peer[], asks: number): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      for (let a = 0; a < asks; a++) {
        // Every client asks at once: with thousands of clients the last answer may take many seconds.
        const got = c.next((m) => m.type === 'view', 300_000);
        c.conn.send({ type: 'client', client: c.conn.peer, key: c.key });
        await got;
      }
    }),
  );
}

async function measureRm(o: RmScaleOptions, groups: number, rows: RmRow[], log: (l: string) => void): Promise<void> {
  const procs = new ProcGroup();
  const peers: Peer[] = [];
  let step = 'starting the RM';
  try {
    const rmProc: Proc = procs.spawn('RM', ['rm', '--port', '0', '--mode', 'passive', '--no-auto-restart', '--quiet', '--quiet-heartbeats', '--json']);
    const rm = await rmProc.address();
    leanStdout(rmProc);
    const cpu = () => runtimeOf(rmProc.pid) ?? NaN;
    const gfd = new Peer(await connect(rm, { me: 'GFD', standing: 'member' }));
    peers.push(gfd);
    const welcome = gfd.next((m) => m.type === 'welcome');
    gfd.conn.send({ type: 'gfdRegister', gfd: 'GFD' });
    await welcome;
    gfd.conn.send({ type: 'members', from: 'GFD', members: [] });
    step = 'bringing the groups up';
    const fake = await joinGroups(gfd, groups);
    const views = { count: 0 };
    const clients: Peer[] = [];
    let cycle = 0;
    for (const c of o.clients) {
      let joinUs = NaN;
      if (c > clients.length) {
        step = `opening ${c} clients`;
        const n = c - clients.length;
        const t = cpu();
        clients.push(...(await openClients(rm, clients.length + 1, n, views)));
        joinUs = ((cpu() - t) * 1e6) / n;
      }
      await sleep(200);
      let askUs = NaN;
      if (clients.length > 0) {
        step = `${clients.length} clients asking again`;
        const t = cpu();
        await askAll(clients, o.asks);
        askUs = ((cpu() - t) * 1e6) / (clients.length * o.asks);
      }
      step = `failovers with ${clients.length} clients`;
      views.count = 0;
      const t = cpu();
      const w = performance.now();
      for (let i = 0; i < o.cycles; i++) await failover(gfd, fake[cycle++ % fake.length]!);
      const cycleMs = ((cpu() - t) * 1e3) / o.cycles;
      const cycleWallMs = (performance.now() - w) / o.cycles;
      await sleep(100);
      const row: RmRow = { groups, clients: clients.length, joinUs, askUs, cycleMs, viewsPerCycle: views.count / o.cycles, cycleWallMs, rssMB: (readMem(rmProc.pid)?.rss ?? NaN) / 1024 };
      rows.push(row);
      log(`RM, ${groups} groups, ${row.clients} clients: join ${fmt(joinUs, 0)} µs, ask ${fmt(askUs, 0)} µs, failover cycle ${fmt(cycleMs, 2)} ms CPU (${fmt(row.viewsPerCycle, 0)} views pushed)`);
    }
    peers.push(...clients);
  } catch (err) {
    throw new Error(`${step}: ${(err as Error).message}`);
  } finally {
    for (const p of peers) p.conn.destroy();
    await procs.stopAll();
  }
}

async function measureGfd(o: RmScaleOptions, lfds: number, rows: GfdRow[], log: (l: string) => void): Promise<void> {
  const procs = new ProcGroup();
  const peers: Peer[] = [];
  try {
    const p = procs.spawn('GFD', ['gfd', '--port', '0', '--no-rm', '--heartbeat-freq', String(o.heartbeat), '--quiet', '--quiet-heartbeats', '--json']);
    const addr = await p.address();
    leanStdout(p);
    for (let i = 1; i <= lfds; i++) {
      const name = `LFD${i}`;
      const peer: Peer = new Peer(await connect(addr, { me: name, standing: 'member' }), (m) => {
        if (m.type === 'heartbeat') peer.conn.send({ type: 'heartbeat', from: name, to: m.from, num: m.num });
      });
      // One at a time, welcomed before the next: a listener holds at most 32 connections per address that have not said who they are.
      const welcome = peer.next((m) => m.type === 'welcome');
      peer.conn.send({ type: 'lfdRegister', lfd: name, host: '127.0.0.1' });
      peers.push(peer);
      await welcome;
    }
    await sleep(Math.max(1000, o.heartbeat * 5000));
    const t = runtimeOf(p.pid) ?? NaN;
    const w = performance.now();
    await sleep(o.gfdWindowMs);
    const secs = (performance.now() - w) / 1000;
    const cpuPct = (((runtimeOf(p.pid) ?? NaN) - t) / secs) * 100;
    const idle = rows.find((r) => r.lfds === 0 && r.heartbeat === o.heartbeat)?.cpuPct ?? 0;
    const beats = (lfds * secs) / o.heartbeat;
    const lost = peers.filter((x) => !x.conn.isOpen).length;
    rows.push({ lfds, heartbeat: o.heartbeat, cpuPct, usPerHeartbeat: lfds ? (((cpuPct - idle) / 100) * secs * 1e6) / beats : NaN, lost });
    log(`GFD, ${lfds} LFDs at ${o.heartbeat} s: ${fmt(cpuPct, 2)} % of a core${lost ? ` (${lost} LFD connections closed)` : ''}`);
  } finally {
    for (const x of peers) x.conn.destroy();
    await procs.stopAll();
  }
}

export async function runRmScale(o: RmScaleOptions, log: (l: string) => void): Promise<RmScaleResult> {
  const result: RmScaleResult = { rm: [], gfd: [], failures: [] };
  for (const g of o.groups) {
    try {
      await measureRm(o, g, result.rm, log);
    } catch (err) {
      result.failures.push(`RM, ${g} groups: ${(err as Error).message}`);
    }
  }
  for (const l of o.lfds) {
    try {
      await measureGfd(o, l, result.gfd, log);
    } catch (err) {
      result.failures.push(`GFD, ${l} LFDs: ${(err as Error).message}`);
    }
  }
  return result;
}

export function printRmScale(r: RmScaleResult): void {
  console.log('\nOne RM (passive, quiet) driven by a stand-in GFD and stand-in clients; RM CPU from /proc/PID/task/*/schedstat\n');
  const rows = [['groups', 'replicas', 'clients', 'join µs/client', 'ask µs', 'failover cycle CPU ms', 'views/cycle', 'cycle wall ms', 'RM RSS MB']];
  for (const x of r.rm) rows.push([String(x.groups), String(x.groups * 3), String(x.clients), fmt(x.joinUs, 0), fmt(x.askUs, 0), fmt(x.cycleMs, 2), fmt(x.viewsPerCycle, 0), fmt(x.cycleWallMs, 1), fmt(x.rssMB, 0)]);
  console.log(table(rows));
  console.log('(a failover cycle: leader delete, queries and 2 reports, election, new view pushed; the old leader\'s add, checkpoint order and ready report)');
  console.log('\nOne GFD heartbeating stand-in LFDs (percent of one core; µs per heartbeat per LFD above the GFD with none)\n');
  const g = [['LFDs', 'heartbeat s', 'GFD CPU %', 'µs/heartbeat', 'LFDs lost']];
  for (const x of r.gfd) g.push([String(x.lfds), String(x.heartbeat), fmt(x.cpuPct, 2), fmt(x.usPerHeartbeat, 1), String(x.lost)]);
  console.log(table(g));
  for (const f of r.failures) console.log(`  ! ${f}`);
}
