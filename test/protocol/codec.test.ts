/**
 * Field encoding and whole-frame encoding/decoding (lib/protocol/codec.ts).
 */
import t from 'tap';
import {
  BadEscapeError,
  MalformedFrameError,
  ProtocolError,
  decodeField,
  decodeFrame,
  encodeField,
  encodeFrame,
} from '../../lib/protocol/index.js';
import { ADVERSARIAL } from './fixtures/samples.js';

t.test('encodeField/decodeField round-trip every adversarial value', async (t) => {
  for (const [label, value] of ADVERSARIAL) {
    const encoded = encodeField(value);
    t.equal(decodeField(encoded), value, `${label}: round-trips`);
    // The encoded form must be safe inside a frame: no separator, no frame delimiter, no line break,
    // no space at either end (the decoder would trim it), and only well-formed escapes.
    t.notMatch(encoded, /[,<>\r\n]/, `${label}: no raw separator or delimiter`);
    t.notMatch(encoded, /^ | $/, `${label}: no space at either end`);
    t.notMatch(encoded, /%(?![0-9A-F]{2})/, `${label}: only well-formed escapes`);
  }
});

t.test('a whole frame of adversarial fields decodes back to the same fields', async (t) => {
  for (const [label, value] of ADVERSARIAL) {
    const fields = [value, 'C1', value, value, 'kind'];
    const frame = encodeFrame(fields);
    t.ok(frame.startsWith('<') && frame.endsWith('>'), `${label}: enclosed in < >`);
    t.notMatch(frame.slice(1, -1), /[<>\r\n]/, `${label}: no delimiter or line break inside`);
    t.same(decodeFrame(frame), fields, `${label}: decodes to the same fields`);
  }
  // All adversarial values in one frame.
  const all = [...ADVERSARIAL.map(([, v]) => v), 'kind'];
  t.same(decodeFrame(encodeFrame(all)), all, 'every value in one frame');
});

t.test('the encoder writes the documented wire form', async (t) => {
  t.equal(encodeField('hello, world'), 'hello%2C world');
  t.equal(encodeFrame(['C1', 'S1', '101', 'hello, world', 'request']), '<C1, S1, 101, hello%2C world, request>');
  t.equal(encodeField('%'), '%25');
  t.equal(encodeField('<>'), '%3C%3E');
  t.equal(encodeField('a\r\nb'), 'a%0D%0Ab');
  t.equal(encodeField('  x '), '%20%20x%20');
  t.equal(encodeField('   '), '%20%20%20');
  t.equal(encodeField(''), '');
  t.equal(encodeField('in side'), 'in side', 'inner spaces stay as they are');
  t.equal(encodeField('\tx\t'), '\tx\t', 'tabs are not escaped');
  t.equal(encodeField('😀é'), '😀é', 'non-ASCII is not escaped');
  t.equal(encodeFrame(['', 'x', 'kind']), '<, x, kind>', 'an empty field is written as nothing');
});

t.test('the decoder trims spaces around fields', async (t) => {
  t.same(decodeFrame('<a ,  b  , kind>'), ['a', 'b', 'kind']);
  t.same(decodeFrame('<   a,b,kind   >'), ['a', 'b', 'kind']);
  t.same(decodeFrame('<a,b,kind>'), ['a', 'b', 'kind'], 'no spaces at all');
  t.same(decodeFrame('<a b , kind>'), ['a b', 'kind'], 'inner spaces are kept');
  t.same(decodeFrame('<%20a%20 , kind>'), [' a ', 'kind'], 'escaped spaces are kept');
  t.same(decodeFrame('<  , kind>'), ['', 'kind'], 'a field of spaces is empty');
  t.same(decodeFrame('<\ta\t, kind>'), ['\ta\t', 'kind'], 'only spaces are trimmed, not tabs');
});

t.test('the decoder accepts lower-case hex in escapes', async (t) => {
  t.equal(decodeField('a%2cb'), 'a,b');
  t.equal(decodeField('%3c%3e'), '<>');
  t.same(decodeFrame('<hello%2c world, kind>'), ['hello, world', 'kind']);
});

t.test('bad escapes throw BadEscapeError', async (t) => {
  for (const raw of ['%', '%G1', '%2', 'abc%', '%%', '%%41', 'a%2', '%zz', '%C3', '%FF', '%E2%82']) {
    t.throws(() => decodeField(raw), BadEscapeError, `decodeField(${JSON.stringify(raw)})`);
    try {
      decodeField(raw);
    } catch (err) {
      t.ok(err instanceof ProtocolError, 'is a ProtocolError');
      t.equal((err as BadEscapeError).name, 'BadEscapeError');
      t.equal((err as BadEscapeError).field, raw, 'carries the field');
      t.ok((err as Error).message.includes(JSON.stringify(raw)), `message quotes the field: ${(err as Error).message}`);
    }
  }
  t.throws(() => decodeFrame('<C1, S1, 1, 50%, request>'), BadEscapeError, 'inside a frame');
  t.throws(() => decodeFrame('<C1, %G1>'), BadEscapeError, 'in the kind');
});

t.test('malformed frames throw MalformedFrameError', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['<>', /no kind/],
    ['< >', /no kind/],
    ['<a, >', /no kind/],
    ['<a, b,>', /no kind/],
    ['<a,   ,  >', /no kind/],
    ['<a<b, kind>', /< or > inside/],
    ['<<a, kind>', /< or > inside/],
    ['<a, b>c, kind>', /< or > inside/],
    ['<a, kind>>', /< or > inside/],
    ['', /not enclosed/],
    ['<', /not enclosed/],
    ['>', /not enclosed/],
    ['a, kind', /not enclosed/],
    ['<a, kind', /not enclosed/],
    ['a, kind>', /not enclosed/],
    [' <a, kind>', /not enclosed/],
    ['<a, kind> ', /not enclosed/],
  ];
  for (const [frame, reason] of cases) {
    t.throws(() => decodeFrame(frame), MalformedFrameError, JSON.stringify(frame));
    try {
      decodeFrame(frame);
    } catch (err) {
      t.ok(err instanceof ProtocolError, 'is a ProtocolError');
      t.equal((err as Error).name, 'MalformedFrameError');
      t.match((err as Error).message, reason, `${JSON.stringify(frame)}: names the problem`);
      t.ok((err as Error).message.includes(JSON.stringify(frame)), `${JSON.stringify(frame)}: quotes the frame`);
      t.equal((err as MalformedFrameError).frame, frame, 'carries the frame');
    }
  }
});

t.test('a frame with only a kind decodes to one field', async (t) => {
  t.same(decodeFrame('<status>'), ['status']);
  t.same(decodeFrame('< status >'), ['status']);
});
