/** `ftkit ctl`: one request to the RM (status or set), one answer. */
import { connect, ConnectionClosedError, DeadlineError, type Security } from '../lib/net/index.js';
import { UnexpectedMessageError, type Message, type MessageOf } from '../lib/protocol/index.js';
import { AdminRefusedError } from '../lib/errors.js';
import { PROPERTIES, isPropertyKey } from '../lib/config/properties.js';
import type { MetricsSummary } from '../lib/metrics/summary.js';

export const ADMIN_NAME = 'admin';
export const DEFAULT_CTL_TIMEOUT_MS = 5000;

export type CtlRequest =
  | { op: 'status' }
  | { op: 'set'; key: string; value: string; group?: string }
  | { op: 'inject'; server: string; fault: MessageOf<'inject'>['fault']; amount: number; seconds: number };

/**
 * Send one admin request to the RM; resolves with the RM's answer text, rejects with its error.
 * With the admin secret (or the deployment secret) in `security`, it proves it first.
 */
export async function ctlRequest(rm: string, req: CtlRequest, { security, timeoutMs = DEFAULT_CTL_TIMEOUT_MS }: { security?: Security; timeoutMs?: number } = {}): Promise<string> {
  const conn = await connect(rm, { me: ADMIN_NAME, timeoutMs, security, standing: 'admin' });
  const msg: Message =
    req.op === 'status'
      ? { type: 'status', from: ADMIN_NAME }
      : req.op === 'set'
        ? { type: 'set', from: ADMIN_NAME, key: req.key, value: req.value, group: req.group }
        : { type: 'inject', from: ADMIN_NAME, server: req.server, fault: req.fault, amount: req.amount, seconds: req.seconds };
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new DeadlineError(`an answer from the RM at ${rm}`, timeoutMs)), timeoutMs);
      conn.on('message', (m) => {
        clearTimeout(timer);
        if (m.type === 'ok') resolve(m.text);
        else if (m.type === 'error') reject(new AdminRefusedError(rm, m.reason));
        else if (m.type === 'refused') reject(new Error(m.reason));
        else reject(new UnexpectedMessageError(`unexpected answer from the RM: ${m.type}`));
      });
      conn.on('close', () => {
        clearTimeout(timer);
        reject(new ConnectionClosedError(`the RM at ${rm}`, 'answering'));
      });
      conn.send(msg);
    });
  } finally {
    conn.destroy();
  }
}

interface StatusMember {
  name: string;
  addr: string;
  role: string;
  ready: boolean;
}

interface StatusGroup {
  name: string;
  mode: string;
  epoch: number;
  leader: string | null;
  ready: string[];
  members: StatusMember[];
  clients: string[];
  target: number | null;
}

/** A link between two groups, as ftkit sync last reported it to the RM (rm/syncs.ts). */
interface StatusSyncLink {
  link: string;
  backlog: number;
  delivered: number;
  ageMs: number;
  silent: boolean;
}

/** The sync section: one line per link, or nothing when no sync has reported. */
export function formatSyncLinks(links: StatusSyncLink[] | undefined): string[] {
  if (!links?.length) return [];
  const width = Math.max(...links.map((l) => l.link.length));
  return [
    'sync (each link: entries waiting, last revision delivered):',
    ...links.map((l) => {
      const heard = l.silent ? `silent for ${Math.round(l.ageMs / 1000)} s` : `reported ${(l.ageMs / 1000).toFixed(1)} s ago`;
      return `  ${l.link.padEnd(width)}  backlog ${String(l.backlog).padEnd(5)} delivered ${String(l.delivered).padEnd(6)} ${heard}`;
    }),
  ];
}

/** Render the RM's status JSON for people. */
export function formatStatus(json: string): string {
  const s = JSON.parse(json) as {
    mode: string;
    epoch: number;
    leader: string | null;
    gfd: string;
    members: StatusMember[];
    clients: string[];
    properties: Record<string, string>;
    inForce?: Record<string, string | null>;
    target?: number | null;
    supervision?: Record<string, { state: string; restarts: number; home: string | null; group?: string }>;
    groups?: StatusGroup[];
    sync?: StatusSyncLink[];
  };
  const sup = s.supervision ?? {};
  const memberLines = (members: StatusMember[], group?: string) => [
    ...members.map((m) => `  ${m.name.padEnd(6)} ${m.addr.padEnd(22)} ${m.role.padEnd(10)} ${(m.ready ? 'ready' : 'not ready').padEnd(10)} ${sup[m.name] ? `restarts ${sup[m.name]!.restarts}` : ''}`),
    ...Object.entries(sup)
      .filter(([name, v]) => !members.some((m) => m.name === name) && (group === undefined || (v.group ?? 'g1') === group))
      .map(([name, v]) => `  ${name.padEnd(6)} ${'-'.padEnd(22)} ${'-'.padEnd(10)} ${v.state}${v.home ? ` (on ${v.home})` : ''}, restarts ${v.restarts}`),
  ];
  const groups = s.groups ?? [];
  const head =
    groups.length > 1
      ? [
          `GFD: ${s.gfd}`,
          ...groups.flatMap((g) => [
            `group ${g.name}: ${g.mode}   epoch: ${g.epoch}   leader: ${g.leader ?? '-'}   members (${g.members.length}), ready: ${g.ready.join(', ') || '-'}${g.target ? `   target ${g.target}` : ''}`,
            ...memberLines(g.members, g.name),
            `  clients: ${g.clients.join(', ') || '-'}`,
          ]),
        ]
      : [`mode: ${s.mode}   epoch: ${s.epoch}   leader: ${s.leader ?? '-'}   GFD: ${s.gfd}`, `members (${s.members.length}):`, ...memberLines(s.members)];
  const lines = [
    ...head,
    `clients: ${s.clients.join(', ') || '-'}`,
    ...formatSyncLinks(s.sync),
    ...(s.target && groups.length <= 1 ? [`target replicas: ${s.target}`] : []),
    'properties in force:',
    ...Object.entries(s.inForce ?? s.properties).map(([k, v]) => `  ${k.padEnd(20)} ${v ?? (isPropertyKey(k) ? PROPERTIES[k].until : '-')}`),
  ];
  return lines.join('\n');
}

/** Render the metrics of the RM's status JSON for people: a table of links, then one of processes. */
export function formatMetrics(json: string): string {
  const m = (JSON.parse(json) as { metrics?: MetricsSummary }).metrics;
  if (!m) return 'the RM keeps no metrics (an older version)';
  const ms = (v: number | null) => (v === null ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1));
  const stale = (s: boolean) => (s ? '  stale' : '');
  const links = m.links.map(
    (l) =>
      `  ${`${l.from} → ${l.to}`.padEnd(16)} ${l.kind.padEnd(10)} ${String(l.count).padStart(7)} ${[l.min, l.avg, l.p99, l.max].map((v) => ms(v).padStart(8)).join('')}${stale(l.stale)}`,
  );
  const procs = m.processes.map(
    (p) =>
      `  ${p.process.padEnd(12)} ${(p.cpu === null ? '-' : p.cpu.toFixed(1)).padStart(6)} ${(p.rss / 2 ** 20).toFixed(1).padStart(8)} ${(p.heap / 2 ** 20).toFixed(1).padStart(8)} ${p.requests === undefined ? ' '.repeat(9) : String(p.requests).padStart(9)}${stale(p.stale)}`.trimEnd(),
  );
  return [
    `links over the last ${m.windowMs / 1000} s (round trips, ms):`,
    `  ${'link'.padEnd(16)} ${'kind'.padEnd(10)} ${'count'.padStart(7)} ${['min', 'avg', 'p99', 'max'].map((h) => h.padStart(8)).join('')}`,
    ...(links.length ? links : ['  none reported yet']),
    'processes:',
    `  ${'process'.padEnd(12)} ${'cpu %'.padStart(6)} ${'rss MB'.padStart(8)} ${'heap MB'.padStart(8)} ${'requests'.padStart(9)}`,
    ...(procs.length ? procs : ['  none reported yet']),
  ].join('\n');
}
