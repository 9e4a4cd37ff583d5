/**
 * docs/PROTOCOL.md stays in step with the catalog: every kind has a section, every example frame
 * decodes to a message of that section's kind, and each section's field table lists the
 * message's fields in wire order.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { KINDS, decode, encode, wireKind } from '../../lib/protocol/index.js';

const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');

/** Lines inside ``` blocks that are whole frames. */
function exampleFrames(text: string): string[] {
  const frames: string[] = [];
  let inBlock = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) inBlock = !inBlock;
    else if (inBlock && line.startsWith('<') && line.endsWith('>')) frames.push(line);
  }
  return frames;
}

t.test('every example frame in the document decodes and is written in canonical form', async (t) => {
  const frames = exampleFrames(doc);
  t.ok(frames.length >= KINDS.length, `${frames.length} example frames`);
  for (const frame of frames) {
    let msg;
    try {
      msg = decode(frame);
    } catch (err) {
      t.fail(`${frame}: ${(err as Error).message}`);
      continue;
    }
    t.equal(encode(msg), frame, `${frame}: is what the encoder writes`);
  }
});

t.test('each message section documents its kind, fields in order, and examples of that kind', async (t) => {
  const sections = doc.split(/^### /m).slice(1);
  const documented = new Set<string>();
  for (const section of sections) {
    const heading = section.slice(0, section.indexOf('\n'));
    const kind = /`([a-z_]+)`/.exec(heading)?.[1];
    if (!kind) {
      t.fail(`no kind in heading ${heading}`);
      continue;
    }
    documented.add(kind);
    const rows = [...section.matchAll(/^\| (\d+) \| (\w+) \|[^|]*\|([^|]*)\|/gm)].map((m) => [Number(m[1]), m[2], m[3]!.trim().startsWith('optional')] as const);
    t.same(
      rows.map(([n]) => n),
      rows.map((_, i) => i + 1),
      `${heading}: fields numbered 1..${rows.length}`,
    );
    const examples = exampleFrames(section);
    t.ok(examples.length > 0, `${heading}: has an example`);
    for (const frame of examples) {
      const msg = decode(frame);
      t.equal(wireKind(msg.type), kind, `${frame}: is a ${kind}`);
      // A frame may leave out optional fields at the end (messages.ts): the table lists them last, marked optional.
      const fields = Object.keys(msg).filter((k) => k !== 'type');
      t.same(
        rows.slice(0, fields.length).map(([, name]) => name),
        fields,
        `${heading}: the table lists the fields of ${frame} in order`,
      );
      t.ok(
        rows.slice(fields.length).every(([, , optional]) => optional),
        `${heading}: the fields ${frame} leaves out are documented as optional`,
      );
    }
  }
  t.same([...documented].sort(), [...KINDS].sort(), 'every kind has a section, and no section documents an unknown kind');
});
