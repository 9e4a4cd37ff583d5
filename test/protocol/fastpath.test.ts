/**
 * The codec's and framer's fast paths (character scans instead of regexes, splits and
 * per-frame concatenation) against the implementations they replaced, kept here as the
 * reference: same frames, same fields, same errors (class and message), on the fixtures
 * and on seeded random input, whole and cut into random chunks.
 */
import t from 'tap';
import { Framer, ProtocolError, decodeField, decodeFrame, encode, encodeField, encodeFrame } from '../../lib/protocol/index.js';
import { BadEscapeError, FrameTooLargeError, MalformedFrameError, UnexpectedBytesError } from '../../lib/errors.js';
import { ALL_SAMPLES } from './fixtures/samples.js';
import { mulberry32 } from '../../harness/chaos/rng.js';

// ---- the previous implementations (commit 2327dac), the reference -------------------------

const ESCAPED = /[%,<>\r\n]/g;
const ESCAPES: Record<string, string> = { '%': '%25', ',': '%2C', '<': '%3C', '>': '%3E', '\r': '%0D', '\n': '%0A' };
const PLAIN = /^(?! )[^%,<>\r\n]*(?<! )$/;

function refEncodeField(value: string): string {
  if (PLAIN.test(value)) return value;
  let out = value.replace(ESCAPED, (c) => ESCAPES[c]!);
  const lead = /^ +/.exec(out)?.[0].length ?? 0;
  if (lead === out.length) return '%20'.repeat(lead);
  const trail = / +$/.exec(out)?.[0].length ?? 0;
  if (lead || trail) out = '%20'.repeat(lead) + out.slice(lead, out.length - trail) + '%20'.repeat(trail);
  return out;
}

const refEncodeFrame = (fields: readonly string[]) => `<${fields.map(refEncodeField).join(', ')}>`;

function refDecodeFrame(frame: string): string[] {
  if (frame.length < 2 || frame[0] !== '<' || frame[frame.length - 1] !== '>') throw new MalformedFrameError('not enclosed in < >', frame);
  const body = frame.slice(1, -1);
  if (body.includes('<') || body.includes('>')) throw new MalformedFrameError('< or > inside a frame', frame);
  const fields = body.split(',').map((f) => decodeField(f.replace(/^ +| +$/g, '')));
  if (fields[fields.length - 1] === '') throw new MalformedFrameError('no kind', frame);
  return fields;
}

class RefFramer {
  private partial = '';
  private inFrame = false;
  private failed: Error | undefined;
  constructor(public maxFrameBytes: number) {}
  get failure(): Error | undefined {
    return this.failed;
  }
  push(chunk: string): string[] {
    if (this.failed) throw this.failed;
    const frames: string[] = [];
    try {
      this.scan(chunk, frames);
      return frames;
    } catch (err) {
      this.failed = err as Error;
      this.partial = '';
      if (frames.length > 0) return frames;
      throw err;
    }
  }
  private scan(chunk: string, frames: string[]): void {
    let i = 0;
    while (i < chunk.length) {
      if (!this.inFrame) {
        const open = chunk.indexOf('<', i);
        const between = open === -1 ? chunk.slice(i) : chunk.slice(i, open);
        if (!/^[ \t\r\n]*$/.test(between)) throw new UnexpectedBytesError(between.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, ''));
        if (open === -1) break;
        this.inFrame = true;
        this.partial = '<';
        i = open + 1;
        continue;
      }
      const close = chunk.indexOf('>', i);
      const end = close === -1 ? chunk.length : close + 1;
      if (this.partial.length + (end - i) > this.maxFrameBytes) {
        const received = this.partial.length + (end - i);
        throw new FrameTooLargeError(this.maxFrameBytes, received, (this.partial + chunk.slice(i, i + 40)).slice(0, 40));
      }
      this.partial += chunk.slice(i, end);
      i = end;
      if (close !== -1) {
        frames.push(this.partial);
        this.partial = '';
        this.inFrame = false;
      }
    }
  }
}

// ---- helpers ---------------------------------------------------------------------------

/** What a call does: its value, or its error's class and message. */
function outcome<T>(f: () => T): { value: T } | { error: string } {
  try {
    return { value: f() };
  } catch (err) {
    return { error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
}

const PIECES = ['<', '>', ',', ' ', '  ', '%', '%2C', '%25', '%2', '%G', '%20', ';', '=', '\r', '\n', '\t', '😀', '\uD800', 'a', 'S1', 'request', 'heartbeat', '12', 'add 1', 'x'.repeat(50)];

function randomText(rng: () => number, maxPieces: number): string {
  let s = '';
  const n = Math.floor(rng() * maxPieces);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(rng() * PIECES.length)];
  return s;
}

const rng = mulberry32(0x13f457);
const VALID = ALL_SAMPLES.map(encode);

// ---- tests -----------------------------------------------------------------------------

t.test('encodeField and encodeFrame give the same wire text as before', async (t) => {
  let checked = 0;
  for (const frame of VALID) {
    const fields = refDecodeFrame(frame);
    t.equal(encodeFrame(fields), refEncodeFrame(fields));
    checked++;
  }
  for (let i = 0; i < 8000; i++) {
    const fields = Array.from({ length: 1 + Math.floor(rng() * 6) }, () => randomText(rng, 6));
    for (const f of fields) if (encodeField(f) !== refEncodeField(f)) t.fail(`encodeField(${JSON.stringify(f)})`);
    if (encodeFrame(fields) !== refEncodeFrame(fields)) t.fail(`encodeFrame(${JSON.stringify(fields)})`);
    checked++;
  }
  t.equal(encodeFrame([]), refEncodeFrame([]), 'no fields');
  t.ok(checked > 8000);
});

t.test('decodeFrame gives the same fields, or the same error, as before', async (t) => {
  for (const frame of VALID) t.same(decodeFrame(frame), refDecodeFrame(frame), frame.slice(0, 60));
  const cases = ['', '<', '>', '<>', '< >', '<,>', '<a,>', '< , x >', '<a<b>', '<a>b>', 'a>', '<a', '<%2, x>', '<x, %ZZ, <>', '<x,y<,%2>', '< \tx\t , y >', '<%20, %2C,, kind>'];
  for (let i = 0; i < 12_000; i++) {
    const body = randomText(rng, 8);
    cases.push(rng() < 0.8 ? `<${body}>` : body);
  }
  let errors = 0;
  for (const c of cases) {
    const mine = outcome(() => decodeFrame(c));
    const ref = outcome(() => refDecodeFrame(c));
    if ('error' in ref) errors++;
    if (JSON.stringify(mine) !== JSON.stringify(ref)) t.fail(`decodeFrame(${JSON.stringify(c)}): ${JSON.stringify(mine)} vs ${JSON.stringify(ref)}`);
  }
  t.ok(errors > 1000 && errors < cases.length - 1000, `both valid and invalid frames were compared (${errors} errors of ${cases.length})`);
  t.throws(() => decodeFrame('<a, %G1, b>'), BadEscapeError);
});

t.test('the framer cuts the same frames and fails the same way, whatever the chunking', async (t) => {
  for (let i = 0; i < 1500; i++) {
    const max = rng() < 0.3 ? 20 + Math.floor(rng() * 60) : 1 << 20;
    let text = '';
    const parts = 1 + Math.floor(rng() * 8);
    for (let p = 0; p < parts; p++) {
      const r = rng();
      text += r < 0.6 ? VALID[Math.floor(rng() * VALID.length)]! : r < 0.8 ? ['\n', ' ', '\r\n', '\t'][Math.floor(rng() * 4)]! : randomText(rng, 4);
    }
    const mine = new Framer(max);
    const ref = new RefFramer(max);
    let at = 0;
    while (at < text.length) {
      const next = rng() < 0.3 ? text.length : Math.min(text.length, at + 1 + Math.floor(rng() * 80));
      const chunk = text.slice(at, next);
      at = next;
      const a = outcome(() => mine.push(chunk));
      const b = outcome(() => ref.push(chunk));
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        t.fail(`chunk ${JSON.stringify(chunk)} of ${JSON.stringify(text)} (max ${max}): ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
        break;
      }
      const fa = mine.failure && `${mine.failure.constructor.name}: ${mine.failure.message}`;
      const fb = ref.failure && `${ref.failure.constructor.name}: ${ref.failure.message}`;
      if (fa !== fb) t.fail(`failure after ${JSON.stringify(chunk)}: ${fa} vs ${fb}`);
    }
  }
  t.pass('1500 random streams compared');
});

t.test('a frame of exactly the limit passes, one character more fails at once', async (t) => {
  const frame = `<${'a'.repeat(8)}, x>`;
  t.same(new Framer(frame.length).push(frame), [frame]);
  const tooSmall = new Framer(frame.length - 1);
  t.throws(() => tooSmall.push(frame), FrameTooLargeError);
  t.ok(tooSmall.failure instanceof ProtocolError);
  t.throws(() => new Framer(1 << 20).push('  junk <a, b>'), UnexpectedBytesError);
});
