/**
 * Random input never raises anything but a ProtocolError, and random strings round-trip.
 *
 * Seeded (mulberry32) so a failure reproduces: the failing case's seed and index are printed.
 * Set FTKIT_FUZZ_SEED to run with another seed.
 */
import t from 'tap';
import {
  Framer,
  KINDS,
  ProtocolError,
  decode,
  decodeField,
  decodeFrame,
  encode,
  encodeField,
  encodeFrame,
  type Message,
} from '../../lib/protocol/index.js';
import { ALL_SAMPLES } from './fixtures/samples.js';
import { mulberry32 } from '../../harness/chaos/rng.js';

const SEED = Number(process.env.FTKIT_FUZZ_SEED ?? 0x5eed749);
const ITERATIONS = 100_000;

const VALID_FRAMES = ALL_SAMPLES.map(encode).filter((f) => f.length <= 400);
const SPECIALS = ['<', '>', ',', ' ', '%', '%2C', '%25', '%2', '%G', ';', '=', ':', '\r', '\n', '\t', '\r\n', '\u0000', '😀', '\uFEFF', '\uD800'];
const ALPHABET = [...SPECIALS, ...'abcXYZ019-_.', ...KINDS.map((k) => k), '127.0.0.1:7201', 'S1=h:1', '1', '0', '65536'];

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!;

/** Purely random bytes, as a socket would deliver them (UTF-8 decoded) or as Latin-1. */
function randomBytes(rng: Rng): string {
  const bytes = Buffer.alloc(int(rng, 200));
  for (let i = 0; i < bytes.length; i++) bytes[i] = int(rng, 256);
  return rng() < 0.5 ? bytes.toString('utf8') : bytes.toString('latin1');
}

/** Random tokens from the protocol's own alphabet, so the input often looks almost right. */
function randomTokens(rng: Rng): string {
  const parts = ['<'];
  const n = int(rng, 12);
  for (let i = 0; i < n; i++) parts.push(pick(rng, ALPHABET), rng() < 0.5 ? ', ' : '');
  parts.push(pick(rng, KINDS), rng() < 0.9 ? '>' : '');
  return parts.join('');
}

/** Valid frames, mutated: flipped bits, truncations, duplicated separators, insertions, deletions. */
function mutatedFrames(rng: Rng): string {
  let s = '';
  const frames = 1 + int(rng, 3);
  for (let i = 0; i < frames; i++) s += pick(rng, ['', ' ', '\n', '\r\n', '\t']) + pick(rng, VALID_FRAMES);
  const mutations = int(rng, 4); // 0 mutations: valid input must decode
  for (let m = 0; m < mutations && s.length > 0; m++) {
    const at = int(rng, s.length);
    switch (int(rng, 6)) {
      case 0: // flip one bit of one character
        s = s.slice(0, at) + String.fromCharCode(s.charCodeAt(at) ^ (1 << int(rng, 8))) + s.slice(at + 1);
        break;
      case 1: // truncate
        s = s.slice(0, at);
        break;
      case 2: {
        // duplicate a separator
        const sep = pick(rng, ['<', '>', ',', ';', '=', ':', '%', ' ']);
        const where = s.indexOf(sep, at);
        if (where !== -1) s = s.slice(0, where) + sep.repeat(2 + int(rng, 3)) + s.slice(where + 1);
        break;
      }
      case 3: // insert something special
        s = s.slice(0, at) + pick(rng, SPECIALS) + s.slice(at);
        break;
      case 4: // delete a run
        s = s.slice(0, at) + s.slice(at + 1 + int(rng, 5));
        break;
      default: // replace the kind
        s = s.replace(/[a-z_]+>/, `${pick(rng, KINDS)}>`);
    }
  }
  return s;
}

/** Split a string into random chunks. */
function chunks(rng: Rng, s: string): string[] {
  if (rng() < 0.5) return [s];
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    const size = 1 + int(rng, 16);
    out.push(s.slice(i, i + size));
    i += size;
  }
  return out;
}

t.test(`${ITERATIONS} random inputs raise nothing but ProtocolError (seed ${SEED})`, async (t) => {
  const rng = mulberry32(SEED);
  const failures: string[] = [];
  const errorNames = new Map<string, number>();
  let decoded = 0;
  let frames = 0;
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const which = int(rng, 3);
    const input = which === 0 ? randomBytes(rng) : which === 1 ? randomTokens(rng) : mutatedFrames(rng);
    const framer = new Framer(rng() < 0.1 ? 64 : undefined);
    try {
      for (const chunk of chunks(rng, input)) {
        for (const frame of framer.push(chunk)) {
          frames++;
          const msg: Message = decode(frame);
          decoded++;
          // What decodes re-encodes to a canonical frame that decodes to the same message.
          const again = decode(encode(msg));
          if (JSON.stringify(again) !== JSON.stringify(msg)) {
            failures.push(`#${i} ${JSON.stringify(frame)}: re-encoding gives ${JSON.stringify(again)} not ${JSON.stringify(msg)}`);
          }
        }
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) {
        failures.push(`#${i} ${JSON.stringify(input)}: ${err instanceof Error ? err.stack : String(err)}`);
      } else {
        errorNames.set(err.name, (errorNames.get(err.name) ?? 0) + 1);
        if (typeof err.message !== 'string' || err.message.length > 500) failures.push(`#${i}: bad message ${JSON.stringify(err.message)}`);
      }
    }
  }
  const ms = performance.now() - started;
  t.comment(`${ITERATIONS} inputs, ${frames} frames, ${decoded} decoded, in ${ms.toFixed(0)} ms; errors: ${JSON.stringify(Object.fromEntries(errorNames))}`);
  t.same(failures.slice(0, 5), [], `no failures (seed ${SEED}; ${failures.length} in all)`);
  // The generators must actually reach every part of the codec, or the test proves little.
  t.ok(decoded > 10_000, `many inputs decode to messages (${decoded})`);
  for (const name of [
    'UnexpectedBytesError',
    'FrameTooLargeError',
    'MalformedFrameError',
    'BadEscapeError',
    'UnknownKindError',
    'FieldCountError',
    'FieldValueError',
  ]) {
    t.ok((errorNames.get(name) ?? 0) > 0, `reached ${name} (${errorNames.get(name) ?? 0} times)`);
  }
  t.ok(ms < 60_000, `bounded: took ${ms.toFixed(0)} ms`);
});

/** A random string biased towards the characters the encoding must handle. */
function randomText(rng: Rng): string {
  const n = int(rng, 40);
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = rng();
    if (r < 0.35) s += pick(rng, SPECIALS);
    else if (r < 0.6) s += String.fromCharCode(0x20 + int(rng, 0x5f)); // printable ASCII
    else if (r < 0.7) s += String.fromCharCode(int(rng, 0x20)); // control characters
    else if (r < 0.85) s += String.fromCharCode(0xa0 + int(rng, 0xd800 - 0xa0)); // BMP below the surrogates
    else if (r < 0.95) s += String.fromCodePoint(0x10000 + int(rng, 0x10ffff - 0x10000)); // astral planes
    else s += String.fromCharCode(0xd800 + int(rng, 0x800)); // lone surrogate
  }
  if (rng() < 0.3) s = ' '.repeat(1 + int(rng, 3)) + s;
  if (rng() < 0.3) s += ' '.repeat(1 + int(rng, 3));
  return s;
}

t.test(`random strings round-trip through encodeField/decodeField and frames (seed ${SEED})`, async (t) => {
  const rng = mulberry32(SEED ^ 0xa5a5a5a5);
  const failures: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const s = randomText(rng);
    const encoded = encodeField(s);
    if (/[,<>\r\n]|^ | $/.test(encoded)) failures.push(`#${i} ${JSON.stringify(s)}: unsafe encoding ${JSON.stringify(encoded)}`);
    let back: string | undefined;
    try {
      back = decodeField(encoded);
    } catch (err) {
      failures.push(`#${i} ${JSON.stringify(s)}: ${String(err)}`);
    }
    if (back !== s) failures.push(`#${i} ${JSON.stringify(s)} came back as ${JSON.stringify(back)}`);
    const fields = [s, randomText(rng), 'kind'];
    try {
      const got = decodeFrame(encodeFrame(fields));
      if (JSON.stringify(got) !== JSON.stringify(fields)) failures.push(`#${i} frame ${JSON.stringify(fields)} came back as ${JSON.stringify(got)}`);
    } catch (err) {
      failures.push(`#${i} frame ${JSON.stringify(fields)}: ${String(err)}`);
    }
  }
  t.same(failures.slice(0, 5), [], `no failures (${failures.length} in all)`);
});

t.test(`decodeField on random raw text throws nothing but ProtocolError (seed ${SEED})`, async (t) => {
  const rng = mulberry32(SEED ^ 0x5a5a5a5a);
  const failures: string[] = [];
  let decodedOk = 0;
  let rejected = 0;
  for (let i = 0; i < 20_000; i++) {
    // Raw text with many `%`s and hex digits, so well-formed, ill-formed and invalid-UTF-8 escapes all occur.
    let raw = '';
    const n = int(rng, 12);
    for (let j = 0; j < n; j++) raw += pick(rng, ['%', '%', '2', 'C', 'c', 'E', 'F', 'f', '0', '8', 'G', 'x', ' ', '😀', '\uDC00']);
    try {
      decodeField(raw);
      decodedOk++;
    } catch (err) {
      if (err instanceof ProtocolError) rejected++;
      else failures.push(`#${i} ${JSON.stringify(raw)}: ${String(err)}`);
    }
  }
  t.same(failures.slice(0, 5), [], `no failures (${failures.length} in all)`);
  t.ok(decodedOk > 1000 && rejected > 1000, `both outcomes occur (${decodedOk} decoded, ${rejected} rejected)`);
});
