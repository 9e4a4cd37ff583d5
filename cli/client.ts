/** `ftkit client [name]`: send requests until done (exit 0) or given up (exit 1). */
import { createInterface } from 'node:readline';
import { Client } from '../clients/client.js';
import { exitWith, securityFor, serve, tracerFor, type Runner } from './process.js';
import { givenKeys } from './options.js';
import { fixedView, type FixedView } from '../lib/config/fixed.js';
import type { Member, Mode } from '../lib/protocol/index.js';

export const client: Runner = async (o, [arg]) => {
  const name = arg ?? (o.name as string | undefined);
  if (!name) {
    // A usage error, said the way commander says its own.
    process.stderr.write('error: name the client: ftkit client C1 (or name = C1 in --config)\n');
    process.exit(2);
  }
  let fixed: FixedView | undefined;
  try {
    fixed = fixedView({ servers: o.servers as Member[] | undefined, mode: o.mode as Mode | undefined, primary: o.primary as string | undefined, rmGiven: givenKeys(o).has('rm') });
  } catch (err) {
    exitWith(2, name, (err as Error).message);
  }
  const tracer = tracerFor(name, o);
  const client = new Client({
    name,
    security: securityFor(name, o, { listens: false, dials: true }, tracer),
    rm: fixed ? undefined : (o.rm as string),
    key: o.key as string | undefined,
    fixed,
    message: o.message as string,
    interval: o.interval as number,
    count: o.count as number,
    timeout: o.timeout as number,
    giveUp: o.giveUp as number,
    metrics: o.metrics !== false,
    input: o.interactive ? createInterface({ input: process.stdin, terminal: false }) : undefined,
    tracer,
  });
  await serve(client);
  const ok = await client.done!.then(
    () => true,
    () => false,
  );
  await client.stop();
  process.exit(ok ? 0 : 1);
};
