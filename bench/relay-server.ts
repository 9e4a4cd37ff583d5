/**
 * The bare Node relay: ftkit passive's message pattern on plain `node:net`, with none of
 * ftkit (no codec, no sessions, no traces, no detectors, no checkpoints, no dedup table),
 * frames cut at `>` as in bench/baseline-server.ts. One process per role:
 *
 *  - `backup NAME`: accepts the primary's connection; for each log line
 *    `<S1, NAME, seq, client, num, payload, epoch, log>` applies the payload to its counter
 *    (in order: a gap is fatal) and answers, once per 'data' event, a cumulative
 *    `<NAME, S1, seq, epoch, ack>` for the last line it applied;
 *  - `primary PORT...`: connects to each backup (persistent, noDelay), then serves clients:
 *    for each request `<client, S1, num, add 1, request>` it applies the payload, gives it
 *    the next sequence number and appends one log line per backup; everything one 'data'
 *    event produced goes out in one write per backup. It answers
 *    `<client, S1, num, total, reply>` only once every backup has acknowledged that
 *    sequence number; the replies one ack releases go out in one write per client socket.
 *
 * Run as a child of the bench (fork, IPC): reports `{ port }` once listening and exits
 * when the parent goes away.
 */
import net from 'node:net';

const EPOCH = 1;

/** Cut complete frames off `buf`: their fields (trimmed), and what is left. */
function frames(buf: string): { fields: string[][]; rest: string } {
  const fields: string[][] = [];
  for (let end = buf.indexOf('>'); end !== -1; end = buf.indexOf('>')) {
    fields.push(buf.slice(buf.indexOf('<') + 1, end).split(',').map((s) => s.trim()));
    buf = buf.slice(end + 1);
  }
  return { fields, rest: buf };
}

/** What `payload` does to the counter (the counter app's `add N`; anything else reads it). */
const apply = (total: number, payload: string) => (payload.startsWith('add ') ? total + Number(payload.slice(4)) : total);

function listen(server: net.Server): void {
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as net.AddressInfo).port }));
}

function fail(message: string): never {
  process.stderr.write(`relay ${process.argv[2]}: ${message}\n`);
  process.exit(1);
}

function backup(name: string): void {
  let total = 0;
  let applied = 0;
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.setEncoding('utf8');
    let buf = '';
    socket.on('data', (chunk: string) => {
      const { fields, rest } = frames(buf + chunk);
      buf = rest;
      for (const f of fields) {
        // f = [from, to, seq, client, num, payload, epoch, 'log']
        const seq = Number(f[2]);
        if (f[7] !== 'log' || seq !== applied + 1) fail(`expected log ${applied + 1}, got <${f.join(', ')}>`);
        total = apply(total, f[5] ?? '');
        applied = seq;
      }
      if (fields.length) socket.write(`<${name}, S1, ${applied}, ${EPOCH}, ack>`);
    });
    socket.on('error', () => socket.destroy());
  });
  listen(server);
}

interface Pending {
  seq: number;
  socket: net.Socket;
  reply: string;
}

async function primary(ports: number[]): Promise<void> {
  let total = 0;
  let seq = 0;
  /** Requests applied and logged, not yet acknowledged by every backup, in sequence order. */
  const pending: Pending[] = [];
  const acked = ports.map(() => 0);
  const names = ports.map((_, i) => `S${i + 2}`);

  /** Answer every request all backups now hold: one write per client socket. */
  const release = () => {
    const upTo = Math.min(...acked);
    const out = new Map<net.Socket, string>();
    let k = 0;
    for (; k < pending.length && pending[k]!.seq <= upTo; k++) {
      const p = pending[k]!;
      out.set(p.socket, (out.get(p.socket) ?? '') + p.reply);
    }
    pending.splice(0, k);
    for (const [socket, text] of out) if (!socket.destroyed) socket.write(text);
  };

  const backups = await Promise.all(
    ports.map(
      (port, i) =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s));
          s.setEncoding('utf8');
          let buf = '';
          s.on('data', (chunk: string) => {
            const { fields, rest } = frames(buf + chunk);
            buf = rest;
            for (const f of fields) {
              // f = [from, to, seq, epoch, 'ack']
              const n = Number(f[2]);
              if (f[4] !== 'ack' || n > seq) fail(`bad ack from ${names[i]}: <${f.join(', ')}>`);
              acked[i] = Math.max(acked[i]!, n);
            }
            if (fields.length) release();
          });
          s.on('error', reject);
          s.on('close', () => fail(`backup ${names[i]} closed its connection`));
        }),
    ),
  );

  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.setEncoding('utf8');
    let buf = '';
    socket.on('data', (chunk: string) => {
      const { fields, rest } = frames(buf + chunk);
      buf = rest;
      if (!fields.length) return;
      const logs = names.map(() => '');
      for (const f of fields) {
        // f = [client, server, num, payload, 'request']
        const [client, , num, payload = ''] = f;
        total = apply(total, payload);
        seq++;
        for (const [i, to] of names.entries()) logs[i] += `<S1, ${to}, ${seq}, ${client}, ${num}, ${payload}, ${EPOCH}, log>`;
        pending.push({ seq, socket, reply: `<${client}, S1, ${num}, ${total}, reply>` });
      }
      for (const [i, b] of backups.entries()) b.write(logs[i]!);
    });
    socket.on('error', () => socket.destroy());
  });
  listen(server);
}

process.on('disconnect', () => process.exit(0));
const [role, ...rest] = process.argv.slice(2);
if (role === 'backup') backup(rest[0] ?? 'S2');
else if (role === 'primary') primary(rest.map(Number)).catch((err: Error) => fail(err.message));
else fail('usage: relay-server backup NAME | primary PORT...');
