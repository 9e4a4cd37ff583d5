/**
 * The incremental framer (lib/protocol/framer.ts): arbitrary chunks in, whole frames out.
 */
import t from 'tap';
import { DEFAULT_MAX_FRAME_BYTES, FrameTooLargeError, Framer, ProtocolError, UnexpectedBytesError, decode } from '../../lib/protocol/index.js';

/** Run fn, expect it to throw; return the error. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

/** Push like a connection does: frames before bad bytes come back, then the failure is raised. */
function pushAll(framer: Framer, chunk: string): string[] {
  const frames = framer.push(chunk);
  if (framer.failure) throw framer.failure;
  return frames;
}

t.test('the default limit is 1 MiB', async (t) => {
  t.equal(DEFAULT_MAX_FRAME_BYTES, 1048576);
  t.equal(new Framer().maxFrameBytes, 1048576);
  t.equal(new Framer(64).maxFrameBytes, 64);
});

t.test('several frames in one chunk', async (t) => {
  const framer = new Framer();
  t.same(framer.push('<C1, client><LFD1, S1, 17, heartbeat>\n<admin, status>'), [
    '<C1, client>',
    '<LFD1, S1, 17, heartbeat>',
    '<admin, status>',
  ]);
  t.equal(framer.buffered, 0);
  t.same(framer.push('<a, b>'), ['<a, b>'], 'the framer goes on after them');
});

t.test('a frame split over many chunks', async (t) => {
  const frame = '<C1, S1, 101, hello%2C world, request>';
  // Every two-chunk split.
  for (let cut = 0; cut <= frame.length; cut++) {
    const framer = new Framer();
    const first = framer.push(frame.slice(0, cut));
    t.same(first, cut === frame.length ? [frame] : [], `cut at ${cut}: nothing before the >`);
    if (cut < frame.length) {
      t.equal(framer.buffered, cut, `cut at ${cut}: holds the partial frame`);
      t.same(framer.push(frame.slice(cut)), [frame], `cut at ${cut}: whole frame after the rest`);
    }
    t.equal(framer.buffered, 0);
  }
  // One character per chunk, with empty chunks in between.
  const framer = new Framer();
  const out: string[] = [];
  for (const c of frame) out.push(...framer.push(c), ...framer.push(''));
  t.same(out, [frame], 'one character per chunk');
  // A frame ending and the next one starting in the same chunk.
  const f2 = new Framer();
  t.same(f2.push('<a, b'), []);
  t.same(f2.push('> <c'), ['<a, b>']);
  t.same(f2.push(', d>'), ['<c, d>']);
});

t.test('whitespace between frames is ignored', async (t) => {
  const framer = new Framer();
  t.same(framer.push(' \t\r\n'), [], 'whitespace alone');
  t.equal(framer.buffered, 0, 'whitespace is not buffered');
  t.same(framer.push('\r\n<a, b>\r\n\r\n\t <c, d>  \n'), ['<a, b>', '<c, d>']);
  t.same(framer.push('\n'.repeat(100_000)), [], 'a lot of whitespace');
  t.same(framer.push('  <e, f>'), ['<e, f>']);
});

t.test('whitespace inside a frame is kept for the decoder', async (t) => {
  const framer = new Framer();
  t.same(framer.push('<a,\tb\r\n, c>'), ['<a,\tb\r\n, c>']);
});

t.test('garbage between frames throws UnexpectedBytesError', async (t) => {
  const cases: Array<[string[], string]> = [
    [['x'], 'x'],
    [['GET / HTTP/1.1\r\nHost: x\r\n\r\n'], 'GET / HTTP/1.1\r\nHost: x'],
    [['<a, b>x<c, d>'], 'x'],
    [['<a, b> > '], '>'],
    [['>'], '>'],
    [['<a, b>', '  junk  '], 'junk'],
    [['<a, b>', ' ', 'z'], 'z'],
    [['\u0000'], '\u0000'],
    [['hello\n<a, b>'], 'hello'],
  ];
  for (const [chunks, input] of cases) {
    const framer = new Framer();
    const err = thrown(() => chunks.forEach((c) => pushAll(framer, c)));
    t.ok(err instanceof UnexpectedBytesError, `${JSON.stringify(chunks)}: UnexpectedBytesError`);
    t.ok(err instanceof ProtocolError, 'is a ProtocolError');
    t.equal(err.name, 'UnexpectedBytesError');
    t.equal((err as UnexpectedBytesError).input, input, `${JSON.stringify(chunks)}: carries the bytes`);
    t.ok(err.message.includes(JSON.stringify(input)), `${JSON.stringify(chunks)}: quotes the bytes: ${err.message}`);
  }
});

t.test('frames completed before garbage in the same chunk are delivered, then the framer fails', async (t) => {
  const framer = new Framer();
  t.same(framer.push('<C1, client> <C2, client>junk<C3, client>'), ['<C1, client>', '<C2, client>']);
  t.ok(framer.failure instanceof UnexpectedBytesError, 'failure is set');
  t.equal((framer.failure as UnexpectedBytesError).input, 'junk');
  t.equal(thrown(() => framer.push('<C4, client>')), framer.failure, 'later pushes throw it');
});

t.test('frames completed before garbage that arrives in a later chunk are delivered', async (t) => {
  const framer = new Framer();
  t.same(framer.push('<C1, client>'), ['<C1, client>']);
  t.throws(() => framer.push('oops'), UnexpectedBytesError);
});

// Whitespace the framer does not accept (form feed, vertical tab, a byte order mark, a no-break
// space) is garbage, and the error must quote it like any other garbage: a message that quotes ""
// tells the person at `nc` nothing.
t.test('UnexpectedBytesError quotes garbage that happens to be non-framer whitespace', async (t) => {
  const show = (s: string) => s.replace(/[^ -~]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  for (const bad of ['\f', '\v', '\uFEFF', '\u00A0', '\u2028']) {
    for (const input of [bad, `${bad}<C1, client>`, `<C1, client> ${bad} `]) {
      const err = thrown(() => pushAll(new Framer(), input));
      t.ok(err instanceof UnexpectedBytesError, `${show(input)}: UnexpectedBytesError`);
      t.ok((err as UnexpectedBytesError).input.includes(bad), `${show(input)}: input holds the bad character`);
      t.notMatch(err.message, /: ""$/, `${show(input)}: message quotes something: ${show(err.message)}`);
    }
  }
});

t.test('after a failure the framer keeps throwing', async (t) => {
  const framer = new Framer();
  const first = thrown(() => framer.push('garbage'));
  t.ok(first instanceof UnexpectedBytesError);
  for (const next of ['<C1, client>', '', ' ', 'more garbage']) {
    t.equal(thrown(() => framer.push(next)), first, `push(${JSON.stringify(next)}) throws the same error`);
  }
  t.equal(framer.buffered, 0, 'holds nothing');

  const big = new Framer(8);
  const tooLarge = thrown(() => big.push('<123456789>'));
  t.ok(tooLarge instanceof FrameTooLargeError);
  t.equal(thrown(() => big.push('<a>')), tooLarge, 'an oversize frame fails the framer too');
});

t.test('the size limit with a small limit (64)', async (t) => {
  const fits = `<${'x'.repeat(62)}>`;
  t.equal(fits.length, 64);
  t.same(new Framer(64).push(fits), [fits], 'a frame of exactly the limit passes');
  t.same(new Framer(64).push(fits + '\n' + fits + fits), [fits, fits, fits], 'the limit is per frame, not per chunk');

  const over = `<${'x'.repeat(63)}>`;
  const err = thrown(() => new Framer(64).push(over));
  t.ok(err instanceof FrameTooLargeError, 'one character over the limit fails');
  t.ok(err instanceof ProtocolError);
  t.equal(err.name, 'FrameTooLargeError');
  t.equal((err as FrameTooLargeError).limit, 64);
  t.match(err.message, /frame exceeds 64 /);
  t.ok(err.message.includes('"<xxxxxxxx'), `quotes the start of the frame: ${err.message}`);

  // Streaming: rejected the moment the 65th character arrives, with no `>` in sight.
  const framer = new Framer(64);
  t.same(framer.push('<'), []);
  for (let i = 0; i < 63; i++) t.same(framer.push('y'), []);
  t.equal(framer.buffered, 64, 'holds exactly the limit');
  t.throws(() => framer.push('y'), FrameTooLargeError, 'the 65th character fails');
  t.equal(framer.buffered, 0, 'and the partial frame is dropped');

  // The limit counts characters (UTF-16 code units), not UTF-8 bytes.
  const accented = `<${'é'.repeat(62)}>`;
  t.same(new Framer(64).push(accented), [accented], '64 characters of 2-byte UTF-8 pass');
  t.throws(() => new Framer(64).push(`<${'😀'.repeat(31)}x>`), FrameTooLargeError, 'an emoji counts as two');
});

t.test('a 10 MB frame is rejected as soon as it crosses the default limit, never buffered whole', async (t) => {
  const framer = new Framer();
  const chunk = 'z'.repeat(64 * 1024);
  const chunks = Math.ceil((10 * 1000 * 1000) / chunk.length); // 153 chunks of 64 KiB
  let maxBuffered = 0;
  let failedAt = -1;
  let error: unknown;
  for (let i = 0; i < chunks; i++) {
    try {
      framer.push(i === 0 ? '<' + chunk.slice(1) : chunk);
    } catch (err) {
      failedAt = i;
      error = err;
      break;
    }
    maxBuffered = Math.max(maxBuffered, framer.buffered);
  }
  t.ok(error instanceof FrameTooLargeError, 'throws FrameTooLargeError');
  t.equal((error as FrameTooLargeError).limit, DEFAULT_MAX_FRAME_BYTES);
  t.ok(failedAt !== -1 && failedAt < chunks - 1, `throws before all ${chunks} chunks are fed (at chunk ${failedAt})`);
  t.equal(failedAt, DEFAULT_MAX_FRAME_BYTES / chunk.length, 'on the first chunk that crosses the limit');
  t.ok(maxBuffered <= DEFAULT_MAX_FRAME_BYTES, `buffered never exceeded the limit (max ${maxBuffered})`);
  t.equal(maxBuffered, DEFAULT_MAX_FRAME_BYTES, 'it did fill up to the limit');
  t.equal(framer.buffered, 0, 'nothing held after the failure');
  t.ok((error as Error).message.length < 200, 'the error message is short');
});

// The message of an oversize frame quotes its start and, like every quote, gives a length in
// "(N chars)". That length must not claim the frame was shorter than the limit it broke.
t.test('FrameTooLargeError does not understate the size of the frame', async (t) => {
  const cases: Array<[string, () => unknown]> = [
    ['one chunk of 2,000,000 characters', () => new Framer().push(`<C1, S1, 1, ${'x'.repeat(2_000_000)}`)],
    ['a small limit, one chunk', () => new Framer(64).push(`<${'x'.repeat(200)}>`)],
  ];
  for (const [what, fn] of cases) {
    const err = thrown(fn) as FrameTooLargeError;
    t.ok(err instanceof FrameTooLargeError, `${what}: FrameTooLargeError`);
    const said = /\((\d+) chars( received)?\)/.exec(err.message);
    t.ok(!said || Number(said[1]) > err.limit, `${what}: ${err.message.slice(-40)} is more than the limit of ${err.limit}`);
  }
});

t.test('a frame of exactly 1 MiB passes the default framer and decodes', async (t) => {
  const prefix = '<C1, S1, 1, ';
  const suffix = ', request>';
  const frame = prefix + 'p'.repeat(DEFAULT_MAX_FRAME_BYTES - prefix.length - suffix.length) + suffix;
  t.equal(frame.length, DEFAULT_MAX_FRAME_BYTES);
  const framer = new Framer();
  const out: string[] = [];
  for (let i = 0; i < frame.length; i += 4096) out.push(...framer.push(frame.slice(i, i + 4096)));
  t.equal(out.length, 1);
  t.match(decode(out[0]!), { type: 'request', client: 'C1', num: 1 });
  t.throws(() => new Framer().push(frame.replace('<', '<x')), FrameTooLargeError, 'one more character does not');
});

t.test('< inside a frame reaches the decoder, which rejects it', async (t) => {
  const frames = new Framer().push('<a<b, c>');
  t.same(frames, ['<a<b, c>'], 'the framer cuts at the first >');
  t.throws(() => decode(frames[0]!), { name: 'MalformedFrameError' });
});
