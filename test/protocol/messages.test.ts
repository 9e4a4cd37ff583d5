/**
 * The message catalog (lib/protocol/messages.ts): round-trips of every message type, through the
 * framer as one chunk and byte by byte, and validation of every field type.
 */
import t from 'tap';
import { StringDecoder } from 'node:string_decoder';
import {
  BadEscapeError,
  FieldCountError,
  FieldValueError,
  FrameTooLargeError,
  Framer,
  KINDS,
  MalformedFrameError,
  ProtocolError,
  UnexpectedBytesError,
  UnexpectedMessageError,
  UnknownKindError,
  decode,
  decodeFrame,
  encode,
  encodeFrame,
  encodeForEach,
  fromFields,
  toFields,
  wireKind,
  type Addressed,
  type Message,
} from '../../lib/protocol/index.js';
import { ALL_SAMPLES, SAMPLES } from './fixtures/samples.js';

const label = (m: Message) => {
  const text = JSON.stringify(m);
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
};

t.test('the samples cover every type and every wire kind of the catalog', async (t) => {
  for (const [type, samples] of Object.entries(SAMPLES)) {
    t.ok(samples.length > 0, `${type} has samples`);
    for (const m of samples) t.equal(m.type, type, `sample filed under ${type}`);
  }
  t.same(new Set(ALL_SAMPLES.map((m) => wireKind(m.type))), new Set(KINDS), 'every wire kind is sampled');
});

t.test('wire kinds of the types that do not travel under their own name', async (t) => {
  t.equal(wireKind('view'), 'ready');
  t.equal(wireKind('serverRegister'), 'register');
  t.equal(wireKind('lfdRegister'), 'register');
  t.equal(wireKind('gfdRegister'), 'register');
  t.equal(wireKind('sendCheckpoint'), 'send_checkpoint');
  t.equal(wireKind('request'), 'request');
});

t.test('decode(encode(m)) deep-equals m for every sample', async (t) => {
  for (const m of ALL_SAMPLES) {
    const frame = encode(m);
    t.strictSame(decode(frame), m, label(m));
    t.strictSame(fromFields(toFields(m)), m, `${label(m)} via fields`);
  }
});

t.test('the encoder writes the documented frames', async (t) => {
  const cases: Array<[Message, string]> = [
    [{ type: 'client', client: 'C1' }, '<C1, client>'],
    [{ type: 'view', client: 'C1', mode: 'passive', replicas: [{ name: 'S2', addr: '10.0.0.2:7201' }] }, '<C1, passive, S2=10.0.0.2:7201, ready>'],
    [
      {
        type: 'view',
        client: 'C1',
        mode: 'active',
        replicas: [
          { name: 'S1', addr: '10.0.0.1:7201' },
          { name: 'S2', addr: '10.0.0.2:7201' },
        ],
      },
      '<C1, active, S1=10.0.0.1:7201;S2=10.0.0.2:7201, ready>',
    ],
    [{ type: 'request', client: 'C1', server: 'S1', num: 101, payload: 'hello, world' }, '<C1, S1, 101, hello%2C world, request>'],
    [{ type: 'reject', client: 'C1', server: 'S1', num: 101, reason: 'not_ready' }, '<C1, S1, 101, not_ready, reject>'],
    [{ type: 'heartbeat', from: 'LFD1', to: 'S1', num: 17 }, '<LFD1, S1, 17, heartbeat>'],
    [{ type: 'gfdRegister', gfd: 'GFD' }, '<GFD, register>'],
    [{ type: 'lfdRegister', lfd: 'LFD1', host: 'machine-1' }, '<LFD1, machine-1, register>'],
    [{ type: 'membership', from: 'LFD1', server: 'S1', action: 'add', addr: '10.0.0.2:7201' }, '<LFD1, S1, add, 10.0.0.2:7201, membership>'],
    [
      { type: 'role', server: 'S1', mode: 'passive', role: 'primary', epoch: 3, ready: true, leader: 'S1', group: [{ name: 'S1', addr: 'h:1' }] },
      '<S1, passive, primary, 3, 1, S1, S1=h:1, role>',
    ],
    [{ type: 'sendCheckpoint', server: 'S1', target: { name: 'S3', addr: 'h:3' }, epoch: 2 }, '<S1, S3=h:3, 2, send_checkpoint>'],
    [{ type: 'members', from: 'GFD', members: [] }, '<GFD, , members>'],
    [{ type: 'set', from: 'admin', key: 'checkpoint_freq', value: '2' }, '<admin, checkpoint_freq, 2, set>'],
    [{ type: 'status', from: 'admin' }, '<admin, status>'],
  ];
  for (const [m, frame] of cases) {
    t.equal(encode(m), frame, m.type);
    t.strictSame(decode(frame), m, `${frame} decodes`);
  }
});

t.test('the decoder takes frames typed by hand: extra spaces, no spaces', async (t) => {
  t.strictSame(decode('<C1,S1,101,hi,request>'), { type: 'request', client: 'C1', server: 'S1', num: 101, payload: 'hi' });
  t.strictSame(decode('<  C1 ,   S1,101 , hi there ,  request  >'), {
    type: 'request',
    client: 'C1',
    server: 'S1',
    num: 101,
    payload: 'hi there',
  });
  t.strictSame(decode('<admin,status>'), { type: 'status', from: 'admin' });
  t.strictSame(decode('<C1, S1, 007, x, request>'), { type: 'request', client: 'C1', server: 'S1', num: 7, payload: 'x' });
});

t.test('register is told apart by field count', async (t) => {
  t.match(decode('<S1, LFD1, 127.0.0.1:7201, 99, node server, register>'), { type: 'serverRegister', server: 'S1', pid: 99 });
  t.match(decode('<LFD1, machine-1, register>'), { type: 'lfdRegister', lfd: 'LFD1', host: 'machine-1' });
  t.match(decode('<GFD, register>'), { type: 'gfdRegister', gfd: 'GFD' });
});

/** Push a string one UTF-16 code unit at a time. */
function pushCharByChar(framer: Framer, text: string): string[] {
  const frames: string[] = [];
  for (const c of text) for (let i = 0; i < c.length; i++) frames.push(...framer.push(c[i]!));
  return frames;
}

/** Push UTF-8 bytes one at a time through a StringDecoder, as a socket delivers them. */
function pushByteByByte(framer: Framer, text: string): string[] {
  const frames: string[] = [];
  const decoder = new StringDecoder('utf8');
  for (const byte of Buffer.from(text, 'utf8')) frames.push(...framer.push(decoder.write(Buffer.from([byte]))));
  frames.push(...framer.push(decoder.end()));
  return frames;
}

t.test('every sample through the framer one character at a time and one byte at a time', async (t) => {
  for (const m of ALL_SAMPLES) {
    const frame = encode(m);
    if (frame.length > 2_000) continue; // the long samples are covered by the next test
    const framer = new Framer();
    const frames = pushCharByChar(framer, frame);
    t.equal(frames.length, 1, `${label(m)}: one frame, char by char`);
    t.strictSame(decode(frames[0]!), m, `${label(m)}: decodes, char by char`);
    t.equal(framer.buffered, 0, 'nothing left over');

    // The wire is UTF-8: a lone surrogate cannot travel (it arrives as U+FFFD), so only
    // well-formed text takes the byte path.
    if (/\p{Surrogate}/u.test(frame)) continue;
    const bytes = pushByteByByte(new Framer(), `\r\n${frame}\n`);
    t.equal(bytes.length, 1, `${label(m)}: one frame, byte by byte`);
    t.strictSame(decode(bytes[0]!), m, `${label(m)}: decodes, byte by byte`);
  }
});

t.test('all samples in one chunk with whitespace between them', async (t) => {
  const separators = ['', ' ', '\n', '\r\n', '\t', '  \t\r\n\n  '];
  const text = ALL_SAMPLES.map((m, i) => separators[i % separators.length] + encode(m)).join('') + '\r\n';
  const framer = new Framer();
  const frames = framer.push(text);
  t.equal(frames.length, ALL_SAMPLES.length, 'one frame per message');
  t.strictSame(frames.map(decode), ALL_SAMPLES, 'each decodes to its message, in order');
  t.equal(framer.buffered, 0);

  // The same stream in uneven chunks.
  const chunked = new Framer();
  const again: string[] = [];
  for (let i = 0, size = 1; i < text.length; i += size, size = (size * 7) % 4093 + 1) again.push(...chunked.push(text.slice(i, i + size)));
  t.strictSame(again.map(decode), ALL_SAMPLES, 'uneven chunks give the same messages');
});

/** Run fn, expect it to throw; return the error. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

t.test('unknown kinds throw UnknownKindError', async (t) => {
  // [kind as written on the wire, kind after decoding]
  const cases: Array<[string, string]> = [
    ['frobnicate', 'frobnicate'],
    ['Request', 'Request'],
    ['REQUEST', 'REQUEST'],
    ['requests', 'requests'],
    ['ready ready', 'ready ready'],
    ['%20client', ' client'],
    ['\tclient', '\tclient'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['toString', 'toString'],
    ['hasOwnProperty', 'hasOwnProperty'],
  ];
  for (const [wire, kind] of cases) {
    const err = thrown(() => decode(`<C1, ${wire}>`));
    t.ok(err instanceof UnknownKindError, `${JSON.stringify(wire)} is unknown (got ${err.name})`);
    t.equal(err.name, 'UnknownKindError');
    t.equal((err as UnknownKindError).kind, kind, 'carries the kind');
    t.ok(err.message.startsWith('unknown message kind '), `names the problem: ${err.message}`);
    t.ok(err.message.includes(JSON.stringify(kind)), `quotes the kind: ${err.message}`);
  }
});

t.test('a wrong field count throws FieldCountError', async (t) => {
  const cases: Array<[string, string, number[], number]> = [
    ['<C1, S1, request>', 'request', [4], 2],
    ['<C1, S1, 1, x, y, request>', 'request', [4], 5],
    ['<request>', 'request', [4], 0],
    ['<status>', 'status', [1], 0],
    ['<admin, x, status>', 'status', [1], 2],
    ['<a, b, c, d, e, f, g, register>', 'register', [1, 2, 5, 6], 7],
    ['<a, b, c, register>', 'register', [1, 2, 5, 6], 3],
    ['<register>', 'register', [1, 2, 5, 6], 0],
    ['<S1, passive, primary, 3, 1, S1, role>', 'role', [7], 6],
    ['<C1, passive, ready>', 'ready', [3, 4], 2],
    ['<C1, passive, S1=127.0.0.1:1, g2, x, ready>', 'ready', [3, 4], 5],
    ['<a, b, error>', 'error', [3], 2],
  ];
  for (const [frame, kind, expected, got] of cases) {
    const err = thrown(() => decode(frame));
    t.ok(err instanceof FieldCountError, `${frame}: FieldCountError`);
    const e = err as FieldCountError;
    t.equal(e.name, 'FieldCountError');
    t.equal(e.kind, kind);
    t.same([...e.expected].sort((a, b) => a - b), expected, `${frame}: expected counts`);
    t.equal(e.got, got, `${frame}: got`);
    t.match(e.message, new RegExp(`^${kind} takes .* fields but got ${got}`), `${frame}: names the problem`);
    t.ok(e.message.includes(JSON.stringify(frame)), `${frame}: quotes the frame`);
  }
});

t.test('bad field values throw FieldValueError naming the field and quoting the value', async (t) => {
  // [frame, kind, field, offending value]
  const cases: Array<[string, string, string, string]> = [
    // numbers
    ['<C1, S1, abc, x, request>', 'request', 'num', 'abc'],
    ['<C1, S1, -1, x, request>', 'request', 'num', '-1'],
    ['<C1, S1, 1.5, x, request>', 'request', 'num', '1.5'],
    ['<C1, S1, , x, request>', 'request', 'num', ''],
    ['<C1, S1, 1e3, x, request>', 'request', 'num', '1e3'],
    ['<C1, S1, 0x10, x, request>', 'request', 'num', '0x10'],
    ['<C1, S1, 1 000, x, request>', 'request', 'num', '1 000'],
    ['<C1, S1, +1, x, request>', 'request', 'num', '+1'],
    ['<C1, S1, ١٢, x, request>', 'request', 'num', '١٢'],
    ['<C1, S1, 1234567890123456, x, request>', 'request', 'num', '1234567890123456'],
    ['<LFD1, S1, NaN, heartbeat>', 'heartbeat', 'num', 'NaN'],
    ['<S1, S2, 7, st, tb, x, 0, checkpoint>', 'checkpoint', 'epoch', 'x'],
    // names
    ['<C 1, client>', 'client', 'client', 'C 1'],
    ['<, client>', 'client', 'client', ''],
    ['<C1!, client>', 'client', 'client', 'C1!'],
    ['<Ç1, client>', 'client', 'client', 'Ç1'],
    ['<a=b, client>', 'client', 'client', 'a=b'],
    ['<C1%2CC2, client>', 'client', 'client', 'C1,C2'],
    [`<${'a'.repeat(65)}, client>`, 'client', 'client', 'a'.repeat(65)],
    ['<C1, S 1, 1, x, request>', 'request', 'server', 'S 1'],
    // nonces and proofs
    ['<LFD1, -, member, 0123, auth_hello>', 'auth_hello', 'nonce', '0123'],
    [`<LFD1, -, member, ${'AB'.repeat(16)}, auth_hello>`, 'auth_hello', 'nonce', 'AB'.repeat(16)],
    [`<LFD1, -, member, ${'0'.repeat(33)}, auth_hello>`, 'auth_hello', 'nonce', '0'.repeat(33)],
    [`<LFD1, -, member, ${'00'.repeat(65)}, auth_hello>`, 'auth_hello', 'nonce', '00'.repeat(65)],
    [`<LFD1, GFD, ${'zz'.repeat(32)}, auth_proof>`, 'auth_proof', 'proof', 'zz'.repeat(32)],
    [`<LFD1, -, root, ${'00'.repeat(16)}, auth_hello>`, 'auth_hello', 'standing', 'root'],
    // addresses
    ['<S1, LFD1, 127.0.0.1:70000, 1, cmd, register>', 'register', 'addr', '127.0.0.1:70000'],
    ['<S1, LFD1, 127.0.0.1:65536, 1, cmd, register>', 'register', 'addr', '127.0.0.1:65536'],
    ['<S1, LFD1, 127.0.0.1, 1, cmd, register>', 'register', 'addr', '127.0.0.1'],
    ['<S1, LFD1, :7201, 1, cmd, register>', 'register', 'addr', ':7201'],
    ['<S1, LFD1, host:port, 1, cmd, register>', 'register', 'addr', 'host:port'],
    ['<S1, LFD1, host:-1, 1, cmd, register>', 'register', 'addr', 'host:-1'],
    ['<S1, LFD1, host:123456, 1, cmd, register>', 'register', 'addr', 'host:123456'],
    ['<S1, LFD1, my host:1, 1, cmd, register>', 'register', 'addr', 'my host:1'],
    ['<LFD1, S1, add, 10.0.0.1:99999, membership>', 'membership', 'addr', '10.0.0.1:99999'],
    // members
    ['<S1, S3, 1, send_checkpoint>', 'send_checkpoint', 'target', 'S3'],
    ['<S1, =h:1, 1, send_checkpoint>', 'send_checkpoint', 'target', '=h:1'],
    ['<S1, S3=nohost, 1, send_checkpoint>', 'send_checkpoint', 'target', 'S3=nohost'],
    ['<S1, S 3=h:1, 1, send_checkpoint>', 'send_checkpoint', 'target', 'S 3=h:1'],
    ['<S1, S3=h:70000, 1, send_checkpoint>', 'send_checkpoint', 'target', 'S3=h:70000'],
    ['<C1, active, S1=h:1;, ready>', 'ready', 'replicas', ''],
    ['<C1, active, S1=h:1;;S2=h:2, ready>', 'ready', 'replicas', ''],
    ['<C1, active, S1=h:1;S2=h:70000, ready>', 'ready', 'replicas', 'S2=h:70000'],
    ['<GFD, S1=h:1;S2, members>', 'members', 'members', 'S2'],
    // enums
    ['<C1, Active, S1=h:1, ready>', 'ready', 'mode', 'Active'],
    ['<C1, warm, S1=h:1, ready>', 'ready', 'mode', 'warm'],
    ['<C1, , S1=h:1, ready>', 'ready', 'mode', ''],
    ['<LFD1, S1, remove, h:1, membership>', 'membership', 'action', 'remove'],
    ['<S1, passive, leader, 1, 1, S1, , role>', 'role', 'role', 'leader'],
    ['<S1, none, primary, 1, 1, S1, , role>', 'role', 'mode', 'none'],
    ['<S1, cold, none, 1, 1, 0, 0, 0, report>', 'report', 'mode', 'cold'],
    // booleans
    ['<S1, passive, primary, 1, 2, S1, , role>', 'role', 'ready', '2'],
    ['<S1, passive, primary, 1, true, S1, , role>', 'role', 'ready', 'true'],
    ['<S1, passive, primary, 1, yes, S1, , role>', 'role', 'ready', 'yes'],
    ['<S1, passive, primary, 1, , S1, , role>', 'role', 'ready', ''],
    ['<S1, passive, primary, 1, 01, S1, , role>', 'role', 'ready', '01'],
    ['<S1, none, none, 0, -0, 0, 0, 0, report>', 'report', 'ready', '-0'],
  ];
  for (const [frame, kind, field, value] of cases) {
    const err = thrown(() => decode(frame));
    t.ok(err instanceof FieldValueError, `${frame}: FieldValueError (got ${err.name}: ${err.message})`);
    const e = err as FieldValueError;
    t.equal(e.name, 'FieldValueError');
    t.equal(e.kind, kind, `${frame}: kind`);
    t.equal(e.field, field, `${frame}: field`);
    t.equal(e.value, value, `${frame}: value`);
    t.ok(e.message.startsWith(`${kind}.${field} is not`), `${frame}: names the field and the problem: ${e.message}`);
    t.ok(e.message.includes(JSON.stringify(value.slice(0, 60)).slice(0, -1)), `${frame}: quotes the value`);
  }
});

t.test('the edges of each type are accepted', async (t) => {
  t.match(decode(`<${'a'.repeat(64)}, client>`), { client: 'a'.repeat(64) }, '64-character name');
  t.match(decode('<A-z_0.9, client>'), { client: 'A-z_0.9' }, 'every name character class');
  t.match(decode('<C1, S1, 999999999999999, x, request>'), { num: 999_999_999_999_999 }, '15-digit number');
  t.match(decode('<S1, LFD1, h:65535, 1, c, register>'), { addr: 'h:65535' }, 'port 65535');
  t.match(decode('<S1, LFD1, h:0, 1, c, register>'), { addr: 'h:0' }, 'port 0');
  t.match(decode('<S1, LFD1, ::1:7201, 1, c, register>'), { addr: '::1:7201' }, 'IPv6 loopback host');
  t.match(decode('<C1, passive, , ready>'), { replicas: [] }, 'empty member list');
  t.match(decode('<S1, passive, backup, 2, 0, , , role>'), { ready: false, leader: '', group: [] }, 'no leader, empty group');
});

t.test('error messages stay short for huge input', async (t) => {
  const huge = 'x'.repeat(10_000);
  const control = '\u0001'.repeat(10_000);
  const cases: Array<[string, () => unknown]> = [
    ['unknown kind', () => decode(`<C1, ${huge}>`)],
    ['unknown kind of control characters', () => decode(`<C1, ${control}>`)],
    ['field count', () => decode(`<${huge}, S1, request>`)],
    ['bad name', () => decode(`<${huge}, client>`)],
    ['bad number', () => decode(`<C1, S1, ${huge}, x, request>`)],
    ['bad escape', () => decode(`<C1, S1, 1, %${huge}, request>`)],
    ['malformed frame', () => decode(`<${huge}<, request>`)],
    ['unexpected bytes', () => new Framer().push(huge)],
    ['frame too large', () => new Framer(100).push(`<${huge}>`)],
  ];
  for (const [what, fn] of cases) {
    const err = thrown(fn);
    t.ok(err instanceof ProtocolError, `${what}: ProtocolError (${err.name})`);
    t.ok(err.message.length <= 500, `${what}: message is ${err.message.length} characters`);
    t.match(err.message, /\(\d+ chars\)/, `${what}: says the input was cut`);
  }
});

t.test('every error class is a ProtocolError with its own name', async (t) => {
  const errors: Array<[Error, string]> = [
    [new ProtocolError('x'), 'ProtocolError'],
    [thrown(() => new Framer().push('x')), 'UnexpectedBytesError'],
    [thrown(() => new Framer(4).push('<abcd>')), 'FrameTooLargeError'],
    [thrown(() => decodeFrame('<>')), 'MalformedFrameError'],
    [thrown(() => decodeFrame('<%, x>')), 'BadEscapeError'],
    [thrown(() => decode('<x, nope>')), 'UnknownKindError'],
    [thrown(() => decode('<status>')), 'FieldCountError'],
    [thrown(() => decode('<C1, S1, x, p, request>')), 'FieldValueError'],
    [new UnexpectedMessageError('S1 does not take status'), 'UnexpectedMessageError'],
  ];
  const classes = {
    ProtocolError,
    UnexpectedBytesError,
    FrameTooLargeError,
    MalformedFrameError,
    BadEscapeError,
    UnknownKindError,
    FieldCountError,
    FieldValueError,
    UnexpectedMessageError,
  };
  for (const [err, name] of errors) {
    t.equal(err.name, name);
    t.ok(err instanceof Error, `${name} is an Error`);
    t.ok(err instanceof ProtocolError, `${name} is a ProtocolError`);
    t.ok(err instanceof classes[name as keyof typeof classes], `${name} is an instance of its class`);
    t.match(String(err), new RegExp(`^${name}: `), `${name} prints its name`);
  }
});

t.test('encodeForEach writes, for each recipient, exactly what encode writes for the message addressed to it', async (t) => {
  const recipients = ['S2', 'S3', 'S_4.x'];
  const messages: Addressed[] = [
    { type: 'log', from: 'S1', to: '', seq: 5, client: 'C1', num: 101, payload: 'add 3, <4>', epoch: 3 },
    { type: 'order', from: 'S1', to: '', seq: 6, client: 'C2', num: 7, payload: ' spaced ', epoch: 1 },
    { type: 'commit', from: 'S1', to: '', seq: 6, epoch: 1 },
    { type: 'checkpoint', from: 'S1', to: '', count: 2, state: '["a%b"]', table: '[]', epoch: 1, seq: 6 },
    { type: 'welcome', from: 'S1', to: '' },
  ];
  for (const msg of messages) {
    const got: Array<[string, string]> = [];
    encodeForEach(msg, recipients, (to, frame) => got.push([to, frame]));
    t.same(got, recipients.map((to) => [to, encode({ ...msg, to })]), msg.type);
  }
  encodeForEach(messages[0]!, [], () => t.fail('no recipients, no frames'));
});

t.test('encode writes exactly the frame of the fields toFields gives', async (t) => {
  for (const msg of ALL_SAMPLES) if (encode(msg) !== encodeFrame(toFields(msg))) t.fail(`${msg.type}: ${encode(msg)}`);
  t.pass(`${ALL_SAMPLES.length} samples`);
});
