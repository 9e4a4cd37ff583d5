/**
 * A client whose RM cannot be reached says so, naming the RM's address, in its retries and when
 * it gives up, instead of blaming the replicas.
 */
import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { Proc } from '../../harness/launch/proc.js';

t.test('a client whose RM is unreachable says so, naming the RM, and blames no replica', async (t) => {
  // a port nothing listens on: listen on a free one, then close it
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const rm = `127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise((resolve) => probe.close(resolve));
  const c = new Proc('C1', ['client', 'C1', '--rm', rm, '--give-up', '1', '--timeout', '0.2', '--json']);
  t.teardown(() => c.stop());
  const exit = await c.exited;
  t.equal(exit.code, 1, 'exit status 1');
  const unreachable = c.events.find((e) => e.type === 'rm_unreachable');
  t.match(unreachable?.text, new RegExp(`^C1: RM at ${rm.replace(/\./g, '\\.')} unreachable \\(connect ECONNREFUSED [^)]*\\); retry 1 in \\d+ ms$`), 'at once: the RM is unreachable, with its address');
  const retries = c.events.filter((e) => e.type === 'retry');
  t.ok(retries.length > 0, 'it retried');
  for (const r of retries) t.ok(r.text.includes(`(RM at ${rm} unreachable (`), `a retry names the RM: ${r.text}`);
  const gaveUp = c.events.find((e) => e.type === 'client_gave_up');
  t.match(gaveUp?.text, new RegExp(`^C1: RM at ${rm.replace(/\./g, '\\.')} unreachable \\(.*\\), so no replica to send to for 1 s; giving up$`), gaveUp?.text ?? 'no line saying it gave up');
  t.notOk(c.events.some((e) => /no replica is ready|no replica answered/.test(e.text)), 'no line blames the replicas');
});
