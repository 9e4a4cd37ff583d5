/**
 * The frames the listener fuzzer sends (fuzz.ts): samples of every message, samples with a
 * weird field value, mutated samples, random tokens and random bytes, with a first message
 * that identifies the connection so later frames reach the handlers. Well-formed frames are
 * defanged unless forging is asked for (see fuzz.ts). Pure: everything drawn from a seeded Rng.
 */
import { encode, encodeFrame, decode, KINDS, toFields, type Message } from '../../lib/protocol/index.js';
import { pick, randInt, type Rng } from './rng.js';

/** The kinds of listener the fuzzer targets. */
export type ListenerKind = 'RM' | 'GFD' | 'LFD' | 'server';

const A1 = '127.0.0.1:7201';
const A2 = '127.0.0.1:7202';
const G = [
  { name: 'S1', addr: A1 },
  { name: 'S2', addr: A2 },
];

/** One well-formed sample of every message type, with names as in a live system. */
export const SAMPLE_MESSAGES: Message[] = [
  { type: 'error', from: 'S1', to: 'C1', reason: 'unknown message kind "x"' },
  { type: 'client', client: 'C1' },
  { type: 'view', client: 'C1', mode: 'passive', replicas: [G[0]!] },
  { type: 'request', client: 'C1', server: 'S1', num: 101, payload: 'append x' },
  { type: 'request', client: 'C2', server: 'S1', num: 7, payload: 'read' },
  { type: 'reply', client: 'C1', server: 'S1', num: 101, result: '1' },
  { type: 'reject', client: 'C1', server: 'S1', num: 101, reason: 'not_ready' },
  { type: 'subscribe', client: 'C1', server: 'S1', topic: 'timeline/1', since: 0 },
  { type: 'event', client: 'C1', server: 'S1', rev: 3, topic: 'timeline/1', text: '{"author":"2","time":0,"text":"x"}' },
  { type: 'serverRegister', server: 'S1', lfd: 'LFD1', addr: A1, pid: 4242, command: '["server","S1"]' },
  { type: 'lfdRegister', lfd: 'LFD1', host: 'machine-1' },
  { type: 'gfdRegister', gfd: 'GFD' },
  { type: 'welcome', from: 'GFD', to: 'LFD1' },
  { type: 'heartbeat', from: 'LFD1', to: 'S1', num: 17 },
  { type: 'heartbeat', from: 'S1', to: 'LFD1', num: 17 },
  { type: 'membership', from: 'LFD1', server: 'S1', action: 'add', addr: A1 },
  { type: 'membership', from: 'GFD', server: 'S2', action: 'delete', addr: A2 },
  { type: 'members', from: 'GFD', members: G },
  { type: 'role', server: 'S1', mode: 'passive', role: 'primary', epoch: 3, ready: true, leader: 'S1', group: G },
  { type: 'sendCheckpoint', server: 'S1', target: G[1]!, epoch: 3 },
  { type: 'launch', server: 'S3', lfd: 'LFD3' },
  { type: 'launchFailed', lfd: 'LFD1', server: 'S1', reason: 'exited' },
  { type: 'retire', server: 'S2' },
  { type: 'machine', from: 'GFD', lfd: 'LFD1', state: 'up' },
  { type: 'query', server: 'S2' },
  { type: 'report', server: 'S1', mode: 'passive', role: 'primary', epoch: 3, ready: true, checkpoint: 7, seq: 120, held: 2 },
  { type: 'checkpoint', from: 'S1', to: 'S2', count: 7, state: '["C1-1"]', table: '[["C1",{"num":1,"result":"1"}]]', epoch: 3, seq: 120 },
  { type: 'log', from: 'S1', to: 'S2', seq: 121, client: 'C1', num: 102, payload: 'append y', epoch: 3 },
  { type: 'order', from: 'S3', to: 'S1', seq: 56, client: 'C2', num: 55, payload: 'append z', epoch: 4 },
  { type: 'ack', from: 'S2', to: 'S1', seq: 121, epoch: 3 },
  { type: 'installed', from: 'S2', to: 'S1', count: 7, seq: 120, epoch: 3 },
  { type: 'synced', from: 'S1', to: 'S3', seq: 56, epoch: 4 },
  { type: 'staleEpoch', from: 'S2', to: 'S1', epoch: 4 },
  { type: 'sync', from: 'S3', to: 'S1', seq: 56, epoch: 4 },
  { type: 'forward', from: 'S2', to: 'S3', client: 'C1', num: 101, payload: 'append w' },
  { type: 'set', from: 'admin', key: 'checkpoint-freq', value: '2' },
  { type: 'set', from: 'admin', key: 'replicas', value: '3' },
  { type: 'status', from: 'admin' },
  { type: 'ok', from: 'RM', to: 'admin', text: '{}' },
];
const SAMPLE_FRAMES = SAMPLE_MESSAGES.map(encode);

const SPECIALS = ['<', '>', ',', ' ', '%', '%2C', '%25', '%2', '%G', ';', '=', ':', '\r', '\n', '\t', '\u0000', '😀', '\uFEFF', '\uD800', '\u00A0'];
/** Field values that stress handlers once the frame decodes. */
const WEIRD_VALUES = [
  '',
  '0',
  '-1',
  '999999999999999',
  '1e3',
  '0.0001',
  'NaN',
  '{',
  '[[',
  '[["C1",{"num":"x"}]]',
  '[["C1",null]]',
  '["a",1]',
  'null',
  '[]',
  'S1=',
  'S1=h:99999',
  ';;',
  'x'.repeat(300),
  '__proto__',
  'constructor',
  'S1=127.0.0.1:1;S1=127.0.0.1:2',
];
const TOKENS = [...SPECIALS, ...'abcXYZ019-_.', ...KINDS, A1, 'S1=h:1', 'S1', 'LFD1', 'GFD', 'admin', '1', '0', '65536'];

/** Which messages identify a peer first on each kind of listener (named after the connection), so later frames reach its handlers. */
function opener(rng: Rng, kind: ListenerKind, me: string): Message {
  switch (kind) {
    case 'RM':
      return rng() < 0.5 ? { type: 'status', from: 'admin' } : { type: 'client', client: me };
    case 'GFD':
      return { type: 'lfdRegister', lfd: me, host: 'fuzz' };
    case 'LFD':
      return { type: 'serverRegister', server: me, lfd: 'LFD', addr: '127.0.0.1:9', pid: 1, command: '[]' };
    case 'server':
      return pick<Message>(rng, [
        { type: 'request', client: me, server: 'S1', num: 1, payload: 'read' },
        { type: 'log', from: 'S9', to: 'S1', seq: 1, client: me, num: 1, payload: 'read', epoch: 0 },
        { type: 'forward', from: 'S9', to: 'S1', client: me, num: 2, payload: 'read' },
      ]);
  }
}

/** The kinds each listener accepts after the first message: most valid frames are drawn from these. */
const ACCEPTED: Record<ListenerKind, string[]> = {
  RM: ['status', 'client', 'set'],
  GFD: ['heartbeat', 'membership', 'report', 'launchFailed'],
  LFD: ['heartbeat', 'report'],
  server: ['request', 'checkpoint', 'log', 'order', 'forward', 'sync'],
};

function randomBytes(rng: Rng): Buffer {
  const bytes = Buffer.alloc(randInt(rng, 1, 200));
  for (let i = 0; i < bytes.length; i++) bytes[i] = randInt(rng, 0, 255);
  return bytes;
}

function randomTokens(rng: Rng): string {
  const parts = ['<'];
  const n = randInt(rng, 0, 11);
  for (let i = 0; i < n; i++) parts.push(pick(rng, TOKENS), rng() < 0.5 ? ', ' : '');
  parts.push(pick(rng, KINDS), rng() < 0.9 ? '>' : '');
  return parts.join('');
}

/** A sample with one field replaced by a weird value: often still decodes, and tests the handler. */
function weirdField(rng: Rng, from: readonly Message[]): string {
  const fields = toFields(pick(rng, from));
  const i = randInt(rng, 0, fields.length - 2);
  fields[i] = pick(rng, WEIRD_VALUES);
  return encodeFrame(fields);
}

/** A valid frame, mutated at the character level. */
function mutated(rng: Rng): string {
  let s = pick(rng, SAMPLE_FRAMES);
  const n = randInt(rng, 1, 3);
  for (let m = 0; m < n && s.length > 0; m++) {
    const at = randInt(rng, 0, s.length - 1);
    switch (randInt(rng, 0, 5)) {
      case 0:
        s = s.slice(0, at) + String.fromCharCode(s.charCodeAt(at) ^ (1 << randInt(rng, 0, 7))) + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at);
        break;
      case 2: {
        const sep = pick(rng, ['<', '>', ',', ';', '=', ':', '%', ' ']);
        const where = s.indexOf(sep, at);
        if (where !== -1) s = s.slice(0, where) + sep.repeat(randInt(rng, 2, 4)) + s.slice(where + 1);
        break;
      }
      case 3:
        s = s.slice(0, at) + pick(rng, SPECIALS) + s.slice(at);
        break;
      case 4:
        s = s.slice(0, at) + s.slice(at + randInt(rng, 1, 5));
        break;
      default:
        s = s.replace(/[a-z_]+>$/, `${pick(rng, KINDS)}>`);
    }
  }
  return s;
}

/**
 * One generated unit ("frame"): text, or raw bytes that need not be UTF-8. `valid` is
 * the share of well-formed frames (samples, or samples with a weird field value): a
 * connection of mostly valid frames gets past identification into the handlers, one
 * of mostly garbage tests the framer and decoder.
 */
function generate(rng: Rng, valid: number, kind: ListenerKind): string | Buffer {
  if (rng() < valid) {
    const from = rng() < 0.7 ? RELEVANT[kind] : SAMPLE_MESSAGES;
    return rng() < 0.7 ? encode(pick(rng, from)) : weirdField(rng, from);
  }
  const r = rng();
  if (r < 0.4) return mutated(rng);
  if (r < 0.7) return randomTokens(rng);
  if (r < 0.999) return randomBytes(rng);
  return `<C1, S1, 1, ${'x'.repeat(1024 * 1024 + 10)}, request>`;
}

const RELEVANT = Object.fromEntries(
  Object.entries(ACCEPTED).map(([kind, types]) => [kind, SAMPLE_MESSAGES.filter((m) => types.includes(m.type))]),
) as Record<ListenerKind, Message[]>;

/**
 * Make a well-formed message harmless: no impersonated names, no epochs a replica
 * would follow, no property changes. Returns undefined if it is harmless already.
 */
export function defang(msg: Message, fuzzName: string): Message | undefined {
  switch (msg.type) {
    case 'set':
      return { ...msg, value: 'not a value' };
    case 'checkpoint':
    case 'log':
    case 'order':
    case 'sync':
    case 'ack':
    case 'installed':
    case 'synced':
    case 'staleEpoch':
      return msg.epoch === 0 ? undefined : { ...msg, epoch: 0 };
    case 'client':
      return msg.client === fuzzName ? undefined : { ...msg, client: fuzzName };
    case 'serverRegister':
      return msg.server === fuzzName && msg.lfd === 'LFD' ? undefined : { ...msg, server: fuzzName, lfd: 'LFD' };
    case 'lfdRegister':
      return msg.lfd === fuzzName ? undefined : { ...msg, lfd: fuzzName };
    case 'gfdRegister':
      return msg.gfd === fuzzName ? undefined : { ...msg, gfd: fuzzName };
    case 'membership':
      // As the fake LFD this connection registered: it may add and delete only its own fake server.
      return msg.from === fuzzName && msg.server === `${fuzzName}S` && msg.addr === '127.0.0.1:9' ? undefined : { ...msg, from: fuzzName, server: `${fuzzName}S`, addr: '127.0.0.1:9' };
    case 'report':
    case 'launchFailed':
      return msg.server.startsWith('FZ') ? undefined : { ...msg, server: fuzzName };
    default:
      return undefined;
  }
}

/**
 * Defang every well-formed frame the receiver would read before its first error, the
 * way its framer cuts the stream. Returns the stream (unchanged when nothing needed it)
 * and how many well-formed frames the receiver will decode before the first bad one.
 */
export function defangStream(data: Buffer, fuzzName: string, forge = false): { data: Buffer; wellFormed: number } {
  const text = data.toString('utf8');
  let out = '';
  let i = 0;
  let changed = false;
  let wellFormed = 0;
  for (;;) {
    const open = text.indexOf('<', i);
    if (open === -1 || !/^[ \t\r\n]*$/.test(text.slice(i, open))) break;
    const close = text.indexOf('>', open + 1);
    if (close === -1) break;
    const frame = text.slice(open, close + 1);
    if (frame.slice(1, -1).includes('<')) break;
    let msg: Message;
    try {
      msg = decode(frame);
    } catch {
      break;
    }
    wellFormed++;
    const safe = forge ? undefined : defang(msg, fuzzName);
    out += text.slice(i, open) + (safe ? encode(safe) : frame);
    changed ||= safe !== undefined;
    i = close + 1;
  }
  return { data: changed ? Buffer.from(out + text.slice(i), 'utf8') : data, wellFormed };
}

/** What one connection sends: the bytes, how they are cut into writes, how many frames and how many of them well-formed. */
export interface Plan {
  data: Buffer;
  chunks: number[];
  frames: number;
  wellFormed: number;
}

/**
 * The bytes of one connection to a `kind` listener: often an identifying first message, then
 * `frames` generated frames with whitespace between some, defanged unless `forge`; written
 * in one piece or in chunks of 1-64 bytes.
 */
export function plan(rng: Rng, kind: ListenerKind, frames: number, forge: boolean, fuzzName: string): Plan {
  const parts: Buffer[] = [];
  const valid = rng() < 0.5 ? 0.97 : 0.2;
  let n = 0;
  if (rng() < 0.7) {
    parts.push(Buffer.from(encode(opener(rng, kind, fuzzName))));
    n++;
  }
  while (n < frames) {
    const unit = generate(rng, valid, kind);
    parts.push(typeof unit === 'string' ? Buffer.from(unit, 'utf8') : unit);
    if (rng() < 0.3) parts.push(Buffer.from(pick(rng, ['\n', ' ', '\r\n', '\t'])));
    n++;
  }
  const { data, wellFormed } = defangStream(Buffer.concat(parts), fuzzName, forge);
  const chunks: number[] = [];
  if (rng() < 0.5) chunks.push(data.length);
  else for (let left = data.length; left > 0; ) left -= chunks[chunks.push(Math.min(left, randInt(rng, 1, 64))) - 1]!;
  return { data, chunks, frames: n, wellFormed };
}
