/**
 * The message catalog: every kind ftkit speaks, as a discriminated union on `type`.
 *
 * A wire kind usually maps to one type. `register` maps to three (server, LFD and
 * GFD registration), told apart by their field count; the link implies it anyway. Fields may be
 * appended before the kind in later versions, never reordered.
 * docs/PROTOCOL.md describes each message for people; this file is the source of truth.
 */
import { decodeFrame, encodeField } from './codec.js';
import { FieldCountError, FieldValueError, UnknownKindError } from '../errors.js';

export type Mode = 'active' | 'passive';
export type Role = 'primary' | 'backup' | 'sequencer' | 'member' | 'none';
export type MembershipAction = 'add' | 'delete';
/** What a connection has proven: which secret it holds (docs/PROTOCOL.md §5a). */
export type Standing = 'client' | 'member' | 'admin';

/** A named endpoint, written `S1=127.0.0.1:7201` on the wire; lists are joined by `;`. */
export interface Member {
  name: string;
  addr: string;
}

export type Message =
  | { type: 'error'; from: string; to: string; reason: string }
  // authentication: the first messages on a link, before anything else (docs/PROTOCOL.md §5a)
  | { type: 'authHello'; from: string; to: string; standing: Standing; nonce: string }
  | { type: 'authChallenge'; from: string; to: string; nonce: string; proof: string }
  | { type: 'authProof'; from: string; to: string; proof: string }
  | { type: 'authOk'; from: string; to: string; standing: Standing }
  // client <-> RM
  | { type: 'client'; client: string; key?: string }
  | { type: 'view'; client: string; mode: Mode; replicas: Member[]; group?: string }
  // client <-> server
  | { type: 'request'; client: string; server: string; num: number; payload: string }
  | { type: 'reply'; client: string; server: string; num: number; result: string }
  | { type: 'reject'; client: string; server: string; num: number; reason: string }
  // client <-> server: watching the replicated state (a subscription), and what it pushes
  | { type: 'subscribe'; client: string; server: string; topic: string; since: number }
  | { type: 'event'; client: string; server: string; rev: number; topic: string; text: string }
  // registration
  | { type: 'serverRegister'; server: string; lfd: string; addr: string; pid: number; command: string; group?: string }
  | { type: 'lfdRegister'; lfd: string; host: string }
  | { type: 'gfdRegister'; gfd: string }
  | { type: 'welcome'; from: string; to: string }
  | { type: 'refused'; from: string; to: string; reason: string }
  // detection and membership
  | { type: 'heartbeat'; from: string; to: string; num: number }
  | { type: 'membership'; from: string; server: string; action: MembershipAction; addr: string; group?: string }
  | { type: 'members'; from: string; members: Member[]; groups?: string }
  // RM -> GFD -> LFD -> server, and back
  | { type: 'role'; server: string; mode: Mode; role: Role; epoch: number; ready: boolean; leader: string; group: Member[] }
  | { type: 'sendCheckpoint'; server: string; target: Member; epoch: number }
  | { type: 'launch'; server: string; lfd: string; group?: string }
  | { type: 'launchFailed'; lfd: string; server: string; reason: string }
  | { type: 'retire'; server: string }
  /** A fail-slow fault for `server` to inject into itself (ftkit ctl fault), relayed RM → GFD → LFD → server. */
  | { type: 'inject'; from: string; server: string; fault: 'cpu-hog' | 'mem-hog' | 'delay' | 'clear'; amount: number; seconds: number }
  | { type: 'machine'; from: string; lfd: string; state: 'up' | 'down' }
  | { type: 'query'; server: string }
  | { type: 'report'; server: string; mode: Mode | 'none'; role: Role; epoch: number; ready: boolean; checkpoint: number; seq: number; held: number }
  | { type: 'lagging'; server: string; follower: string; epoch: number; seq: number; acked: number }
  | { type: 'inForce'; from: string; key: string; value: string }
  // what each process measured over the last second, on its way up to the RM (docs/OBSERVABILITY.md)
  | { type: 'metrics'; from: string; to: string; report: string }
  // sync -> RM: what waits on one link between two groups (sns)
  | { type: 'backlog'; from: string; source: string; target: string; waiting: number; delivered: number }
  // server <-> server
  | { type: 'checkpoint'; from: string; to: string; count: number; state: string; table: string; epoch: number; seq: number }
  // a large checkpoint, in parts (docs/PROTOCOL.md, "Large checkpoints")
  | { type: 'checkpointBegin'; from: string; to: string; count: number; seq: number; epoch: number }
  | { type: 'checkpointPart'; from: string; to: string; count: number; text: string; epoch: number }
  | { type: 'checkpointEnd'; from: string; to: string; count: number; table: string; parts: number; epoch: number }
  | { type: 'log'; from: string; to: string; seq: number; client: string; num: number; payload: string; epoch: number }
  | { type: 'order'; from: string; to: string; seq: number; client: string; num: number; payload: string; epoch: number }
  | { type: 'ack'; from: string; to: string; seq: number; epoch: number }
  | { type: 'synced'; from: string; to: string; seq: number; epoch: number }
  | { type: 'installed'; from: string; to: string; count: number; seq: number; epoch: number }
  | { type: 'staleEpoch'; from: string; to: string; epoch: number }
  | { type: 'commit'; from: string; to: string; seq: number; epoch: number }
  | { type: 'sync'; from: string; to: string; seq: number; epoch: number }
  | { type: 'forward'; from: string; to: string; client: string; num: number; payload: string }
  // administration
  | { type: 'set'; from: string; key: string; value: string; group?: string }
  | { type: 'status'; from: string }
  | { type: 'ok'; from: string; to: string; text: string };

export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

type FieldType = 'name' | 'text' | 'int' | 'addr' | 'bool' | 'hex' | 'member' | 'members' | 'key' | 'groups' | `enum:${string}`;

/** The group a server belongs to, and a client is served by, when none is named. */
export const DEFAULT_GROUP = 'g1';
interface Spec {
  type: MessageType;
  kind: string;
  fields: Array<[string, FieldType]>;
  /**
   * Fields appended in a later version, after `fields`, each with the value it has when absent.
   * They are written only up to the last one that differs from its default, so a frame that
   * needs none of them is exactly what earlier versions wrote; a reader accepts any prefix.
   */
  optional?: Array<[string, FieldType, string]>;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** A name, or nothing (an optional name left empty). */
const KEY = /^[A-Za-z0-9_.-]{0,64}$/;
/** Which group each server is in, for those not in the default group: `S4=g2;S6=g2`. */
const GROUPS = /^(?:[A-Za-z0-9_.-]{1,64}=[A-Za-z0-9_.-]{1,64}(?:;[A-Za-z0-9_.-]{1,64}=[A-Za-z0-9_.-]{1,64})*)?$/;
const ADDR = /^[A-Za-z0-9_.:-]{1,253}:(\d{1,5})$/;
/** Nonces and proofs: 16 to 64 bytes, lower-case hex. */
const HEX = /^(?:[0-9a-f]{2}){16,64}$/;

const SPECS: Spec[] = [
  { type: 'error', kind: 'error', fields: [['from', 'text'], ['to', 'text'], ['reason', 'text']] },
  { type: 'authHello', kind: 'auth_hello', fields: [['from', 'name'], ['to', 'text'], ['standing', 'enum:client|member|admin'], ['nonce', 'hex']] },
  { type: 'authChallenge', kind: 'auth_challenge', fields: [['from', 'name'], ['to', 'name'], ['nonce', 'hex'], ['proof', 'hex']] },
  { type: 'authProof', kind: 'auth_proof', fields: [['from', 'name'], ['to', 'name'], ['proof', 'hex']] },
  { type: 'authOk', kind: 'auth_ok', fields: [['from', 'name'], ['to', 'name'], ['standing', 'enum:client|member|admin']] },
  { type: 'client', kind: 'client', fields: [['client', 'name']], optional: [['key', 'key', '']] },
  { type: 'view', kind: 'ready', fields: [['client', 'name'], ['mode', 'enum:active|passive'], ['replicas', 'members']], optional: [['group', 'key', '']] },
  { type: 'request', kind: 'request', fields: [['client', 'name'], ['server', 'name'], ['num', 'int'], ['payload', 'text']] },
  { type: 'reply', kind: 'reply', fields: [['client', 'name'], ['server', 'name'], ['num', 'int'], ['result', 'text']] },
  { type: 'reject', kind: 'reject', fields: [['client', 'name'], ['server', 'name'], ['num', 'int'], ['reason', 'text']] },
  { type: 'subscribe', kind: 'subscribe', fields: [['client', 'name'], ['server', 'name'], ['topic', 'text'], ['since', 'int']] },
  { type: 'event', kind: 'event', fields: [['client', 'name'], ['server', 'name'], ['rev', 'int'], ['topic', 'text'], ['text', 'text']] },
  {
    type: 'serverRegister',
    kind: 'register',
    fields: [['server', 'name'], ['lfd', 'name'], ['addr', 'addr'], ['pid', 'int'], ['command', 'text']],
    optional: [['group', 'name', DEFAULT_GROUP]],
  },
  { type: 'lfdRegister', kind: 'register', fields: [['lfd', 'name'], ['host', 'text']] },
  { type: 'gfdRegister', kind: 'register', fields: [['gfd', 'name']] },
  { type: 'welcome', kind: 'welcome', fields: [['from', 'name'], ['to', 'name']] },
  { type: 'refused', kind: 'refused', fields: [['from', 'name'], ['to', 'name'], ['reason', 'text']] },
  { type: 'heartbeat', kind: 'heartbeat', fields: [['from', 'name'], ['to', 'name'], ['num', 'int']] },
  {
    type: 'membership',
    kind: 'membership',
    fields: [['from', 'name'], ['server', 'name'], ['action', 'enum:add|delete'], ['addr', 'addr']],
    optional: [['group', 'name', DEFAULT_GROUP]],
  },
  { type: 'members', kind: 'members', fields: [['from', 'name'], ['members', 'members']], optional: [['groups', 'groups', '']] },
  {
    type: 'role',
    kind: 'role',
    fields: [
      ['server', 'name'],
      ['mode', 'enum:active|passive'],
      ['role', 'enum:primary|backup|sequencer|member|none'],
      ['epoch', 'int'],
      ['ready', 'bool'],
      ['leader', 'text'],
      ['group', 'members'],
    ],
  },
  { type: 'sendCheckpoint', kind: 'send_checkpoint', fields: [['server', 'name'], ['target', 'member'], ['epoch', 'int']] },
  { type: 'launch', kind: 'launch', fields: [['server', 'name'], ['lfd', 'name']], optional: [['group', 'name', DEFAULT_GROUP]] },
  { type: 'launchFailed', kind: 'launch_failed', fields: [['lfd', 'name'], ['server', 'name'], ['reason', 'text']] },
  { type: 'retire', kind: 'retire', fields: [['server', 'name']] },
  { type: 'inject', kind: 'inject', fields: [['from', 'name'], ['server', 'name'], ['fault', 'enum:cpu-hog|mem-hog|delay|clear'], ['amount', 'int'], ['seconds', 'int']] },
  { type: 'machine', kind: 'machine', fields: [['from', 'name'], ['lfd', 'name'], ['state', 'enum:up|down']] },
  { type: 'query', kind: 'query', fields: [['server', 'name']] },
  {
    type: 'report',
    kind: 'report',
    fields: [
      ['server', 'name'],
      ['mode', 'enum:active|passive|none'],
      ['role', 'enum:primary|backup|sequencer|member|none'],
      ['epoch', 'int'],
      ['ready', 'bool'],
      ['checkpoint', 'int'],
      ['seq', 'int'],
      ['held', 'int'],
    ],
  },
  { type: 'lagging', kind: 'lagging', fields: [['server', 'name'], ['follower', 'name'], ['epoch', 'int'], ['seq', 'int'], ['acked', 'int']] },
  { type: 'inForce', kind: 'in_force', fields: [['from', 'name'], ['key', 'name'], ['value', 'text']] },
  { type: 'metrics', kind: 'metrics', fields: [['from', 'name'], ['to', 'name'], ['report', 'text']] },
  { type: 'backlog', kind: 'backlog', fields: [['from', 'name'], ['source', 'name'], ['target', 'name'], ['waiting', 'int'], ['delivered', 'int']] },
  {
    type: 'checkpoint',
    kind: 'checkpoint',
    fields: [['from', 'name'], ['to', 'name'], ['count', 'int'], ['state', 'text'], ['table', 'text'], ['epoch', 'int'], ['seq', 'int']],
  },
  { type: 'checkpointBegin', kind: 'checkpoint_begin', fields: [['from', 'name'], ['to', 'name'], ['count', 'int'], ['seq', 'int'], ['epoch', 'int']] },
  { type: 'checkpointPart', kind: 'checkpoint_part', fields: [['from', 'name'], ['to', 'name'], ['count', 'int'], ['text', 'text'], ['epoch', 'int']] },
  { type: 'checkpointEnd', kind: 'checkpoint_end', fields: [['from', 'name'], ['to', 'name'], ['count', 'int'], ['table', 'text'], ['parts', 'int'], ['epoch', 'int']] },
  ...(['log', 'order'] as const).map(
    (kind): Spec => ({
      type: kind,
      kind,
      fields: [['from', 'name'], ['to', 'name'], ['seq', 'int'], ['client', 'name'], ['num', 'int'], ['payload', 'text'], ['epoch', 'int']],
    }),
  ),
  { type: 'ack', kind: 'ack', fields: [['from', 'name'], ['to', 'name'], ['seq', 'int'], ['epoch', 'int']] },
  { type: 'synced', kind: 'synced', fields: [['from', 'name'], ['to', 'name'], ['seq', 'int'], ['epoch', 'int']] },
  { type: 'installed', kind: 'installed', fields: [['from', 'name'], ['to', 'name'], ['count', 'int'], ['seq', 'int'], ['epoch', 'int']] },
  { type: 'staleEpoch', kind: 'stale_epoch', fields: [['from', 'name'], ['to', 'name'], ['epoch', 'int']] },
  { type: 'commit', kind: 'commit', fields: [['from', 'name'], ['to', 'name'], ['seq', 'int'], ['epoch', 'int']] },
  { type: 'sync', kind: 'sync', fields: [['from', 'name'], ['to', 'name'], ['seq', 'int'], ['epoch', 'int']] },
  {
    type: 'forward',
    kind: 'forward',
    fields: [['from', 'name'], ['to', 'name'], ['client', 'name'], ['num', 'int'], ['payload', 'text']],
  },
  { type: 'set', kind: 'set', fields: [['from', 'name'], ['key', 'name'], ['value', 'text']], optional: [['group', 'key', '']] },
  { type: 'status', kind: 'status', fields: [['from', 'name']] },
  { type: 'ok', kind: 'ok', fields: [['from', 'name'], ['to', 'name'], ['text', 'text']] },
];

const BY_TYPE = new Map(SPECS.map((s) => [s.type, s]));
const BY_KIND = new Map<string, Spec[]>();
for (const spec of SPECS) BY_KIND.set(spec.kind, [...(BY_KIND.get(spec.kind) ?? []), spec]);

/** Every wire kind in the catalog. */
export const KINDS: readonly string[] = [...BY_KIND.keys()];

export function formatMembers(members: readonly Member[]): string {
  return members.map((m) => `${m.name}=${m.addr}`).join(';');
}

function parseMember(kind: string, field: string, value: string): Member {
  const eq = value.indexOf('=');
  const name = value.slice(0, eq);
  const addr = value.slice(eq + 1);
  if (eq < 1 || !NAME.test(name) || !ADDR.test(addr) || Number(ADDR.exec(addr)![1]) > 65535) {
    throw new FieldValueError(kind, field, value, 'is not NAME=host:port');
  }
  return { name, addr };
}

function parseField(kind: string, [field, ftype]: [string, FieldType], value: string): unknown {
  switch (ftype) {
    case 'text':
      return value;
    case 'name':
      if (!NAME.test(value)) throw new FieldValueError(kind, field, value, 'is not a name (letters, digits, _ . -)');
      return value;
    case 'key':
      if (!KEY.test(value)) throw new FieldValueError(kind, field, value, 'is not a name (letters, digits, _ . -) or empty');
      return value;
    case 'groups':
      if (!GROUPS.test(value)) throw new FieldValueError(kind, field, value, 'is not SERVER=GROUP;…');
      return value;
    case 'int':
      if (!/^\d{1,15}$/.test(value)) throw new FieldValueError(kind, field, value, 'is not a non-negative integer');
      return Number(value);
    case 'hex':
      if (!HEX.test(value)) throw new FieldValueError(kind, field, value, 'is not 32 to 128 lower-case hex digits');
      return value;
    case 'bool':
      if (value !== '0' && value !== '1') throw new FieldValueError(kind, field, value, 'is not 0 or 1');
      return value === '1';
    case 'addr': {
      const m = ADDR.exec(value);
      if (!m || Number(m[1]) > 65535) throw new FieldValueError(kind, field, value, 'is not host:port');
      return value;
    }
    case 'member':
      return parseMember(kind, field, value);
    case 'members':
      return value === '' ? [] : value.split(';').map((v) => parseMember(kind, field, v));
    default: {
      const allowed = ftype.slice('enum:'.length).split('|');
      if (!allowed.includes(value)) throw new FieldValueError(kind, field, value, `is not one of ${allowed.join(', ')}`);
      return value;
    }
  }
}

function formatField(ftype: FieldType, value: unknown): string {
  switch (ftype) {
    case 'bool':
      return value ? '1' : '0';
    case 'int':
      return String(value);
    case 'member': {
      const m = value as Member;
      return `${m.name}=${m.addr}`;
    }
    case 'members':
      return formatMembers(value as Member[]);
    default:
      return value as string;
  }
}

/** The fields `msg` is written with: the required ones, then optional ones up to the last that is not at its default. */
function fieldsOf(spec: Spec, record: Record<string, unknown>): Array<[string, FieldType]> {
  const optional = spec.optional ?? [];
  let last = optional.length;
  while (last > 0) {
    const [name, , dflt] = optional[last - 1]!;
    const value = record[name];
    if (value !== undefined && value !== dflt) break;
    last--;
  }
  if (last === 0) return spec.fields;
  return [...spec.fields, ...optional.slice(0, last).map(([name, ftype, dflt]): [string, FieldType] => {
    if (record[name] === undefined) record[name] = dflt;
    return [name, ftype];
  })];
}

/** The wire kind of a message type (`serverRegister` travels as `register`). */
export function wireKind(type: MessageType): string {
  return BY_TYPE.get(type)!.kind;
}

/** Fields of a message in wire order, kind last. */
export function toFields(msg: Message): string[] {
  const spec = BY_TYPE.get(msg.type)!;
  const record = { ...msg } as unknown as Record<string, unknown>;
  return [...fieldsOf(spec, record).map(([name, ftype]) => formatField(ftype, record[name])), spec.kind];
}

/** Encode a message as one frame: `encodeFrame(toFields(msg))`, without the arrays (it runs for every message sent). */
export function encode(msg: Message): string {
  const spec = BY_TYPE.get(msg.type)!;
  let record = msg as unknown as Record<string, unknown>;
  let fields = spec.fields;
  if (spec.optional) {
    record = { ...record };
    fields = fieldsOf(spec, record);
  }
  let out = '<';
  for (const [name, ftype] of fields) out += `${encodeField(formatField(ftype, record[name]))}, `;
  return `${out}${encodeField(spec.kind)}>`;
}

/** A message that names one recipient in a field `to`: the same text can go to several. */
export type Addressed = Extract<Message, { to: string }>;

/**
 * Encode one message for several recipients: every field but `to` is encoded once, and each
 * recipient's frame is that text with its own name spliced in (`each(name, frame)`). The frames
 * are exactly what `encode` writes for the message addressed to that recipient.
 */
export function encodeForEach(msg: Addressed, recipients: readonly string[], each: (to: string, frame: string) => void): void {
  if (recipients.length === 0) return;
  const spec = BY_TYPE.get(msg.type)!;
  const record = { ...msg } as unknown as Record<string, unknown>;
  let head = '<';
  let tail = '';
  let seen = false;
  for (const [name, ftype] of fieldsOf(spec, record)) {
    if (name === 'to') {
      seen = true;
      continue;
    }
    const field = encodeField(formatField(ftype, record[name]));
    if (seen) tail += `, ${field}`;
    else head += head === '<' ? field : `, ${field}`;
  }
  tail += `, ${encodeField(spec.kind)}>`;
  const sep = head === '<' ? '' : ', ';
  for (const to of recipients) each(to, `${head}${sep}${encodeField(to)}${tail}`);
}

/** Validate decoded fields (kind last) against the catalog. */
export function fromFields(fields: string[], frame = fields.join(', ')): Message {
  const kind = fields[fields.length - 1]!;
  const specs = BY_KIND.get(kind);
  if (!specs) throw new UnknownKindError(kind);
  const values = fields.slice(0, -1);
  const spec = specs.find((s) => values.length >= s.fields.length && values.length <= s.fields.length + (s.optional?.length ?? 0));
  if (!spec) throw new FieldCountError(kind, specs.flatMap(countsOf), values.length, frame);
  const msg: Record<string, unknown> = { type: spec.type };
  spec.fields.forEach((f, i) => (msg[f[0]] = parseField(kind, f, values[i]!)));
  (spec.optional ?? []).forEach(([name, ftype, dflt], i) => {
    const value = values[spec.fields.length + i];
    // Given at its default, an optional field reads as absent: the message is the same either way.
    if (value !== undefined && value !== dflt) msg[name] = parseField(kind, [name, ftype], value);
  });
  return msg as unknown as Message;
}

/** The field counts a spec accepts. */
function countsOf(spec: Spec): number[] {
  return Array.from({ length: (spec.optional?.length ?? 0) + 1 }, (_, i) => spec.fields.length + i);
}

/** Decode one whole frame into a typed message. Throws a ProtocolError subclass. */
export function decode(frame: string): Message {
  return fromFields(decodeFrame(frame), frame);
}
