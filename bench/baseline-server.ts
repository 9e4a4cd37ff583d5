/**
 * Baseline for the benchmarks: a plain `node:net` request/reply server that speaks
 * ftkit's message shape without any of ftkit (no codec, no replication, no traces).
 * `<C1, S1, n, add 1, request>` -> `<C1, S1, n, total, reply>`, frames cut at `>`.
 *
 * Run as a child of bench/run.ts (fork, IPC): it reports `{ port }` once listening
 * and exits when the parent goes away.
 */
import net from 'node:net';

let total = 0;

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true);
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    let out = '';
    for (let end = buf.indexOf('>'); end !== -1; end = buf.indexOf('>')) {
      const frame = buf.slice(buf.indexOf('<') + 1, end);
      buf = buf.slice(end + 1);
      const f = frame.split(',').map((s) => s.trim());
      // f = [client, server, num, payload, 'request']
      const op = f[3] ?? '';
      if (op.startsWith('add ')) total += Number(op.slice(4));
      out += `<${f[0]}, ${f[1]}, ${f[2]}, ${total}, reply>`;
    }
    if (out) socket.write(out);
  });
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  process.send?.({ port: addr.port });
});
process.on('disconnect', () => process.exit(0));
