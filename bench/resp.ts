/**
 * Just enough of RESP (the Redis protocol) for the bench: encode a command, and read
 * replies incrementally from a stream of chunks. Pure: no I/O.
 */

/** A command as RESP: an array of bulk strings. */
export function encodeCommand(...args: string[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return out;
}

export type Reply = { kind: 'simple' | 'error'; text: string } | { kind: 'int'; value: number } | { kind: 'bulk'; text: string | null } | { kind: 'array'; items: Reply[] | null };

/** Reads replies from chunks as they arrive: `push()` returns every reply completed so far. */
export class ReplyReader {
  private buf = '';

  push(chunk: string): Reply[] {
    this.buf += chunk;
    const out: Reply[] = [];
    let at = 0;
    for (;;) {
      const r = parse(this.buf, at);
      if (!r) break;
      out.push(r.reply);
      at = r.next;
    }
    this.buf = this.buf.slice(at);
    return out;
  }
}

function parse(s: string, at: number): { reply: Reply; next: number } | undefined {
  const eol = s.indexOf('\r\n', at);
  if (eol === -1) return undefined;
  const type = s[at];
  const line = s.slice(at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { reply: { kind: 'simple', text: line }, next };
    case '-':
      return { reply: { kind: 'error', text: line }, next };
    case ':':
      return { reply: { kind: 'int', value: Number(line) }, next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { reply: { kind: 'bulk', text: null }, next };
      // Lengths are in bytes; the bench only reads ASCII (INFO, keys and values it wrote).
      if (s.length < next + len + 2) return undefined;
      return { reply: { kind: 'bulk', text: s.slice(next, next + len) }, next: next + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { reply: { kind: 'array', items: null }, next };
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const r = parse(s, pos);
        if (!r) return undefined;
        items.push(r.reply);
        pos = r.next;
      }
      return { reply: { kind: 'array', items }, next: pos };
    }
    default:
      throw new Error(`RESP: unexpected ${JSON.stringify(s.slice(at, at + 20))}`);
  }
}
