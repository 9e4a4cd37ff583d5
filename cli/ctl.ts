/** `ftkit ctl status | metrics | set <key> <value>`: one request to the RM, its answer on stdout. */
import { ctlRequest, formatMetrics, formatStatus } from '../clients/ctl.js';
import { parseProperty } from '../lib/config/properties.js';
import { AdminRefusedError } from '../lib/errors.js';
import { exitWith, securityFor, type Runner } from './process.js';

export const ctl: Runner = async (o, [op, key, value]) => {
  // A bad key or value is refused here, before anything is sent: exit 2, like any bad argument.
  if (op === 'set') {
    try {
      parseProperty(key!, value!);
    } catch (err) {
      exitWith(2, 'ctl', (err as Error).message);
    }
  }
  const security = securityFor('ctl', o, { listens: false, dials: true });
  try {
    const text = await ctlRequest(o.rm as string, op === 'set' ? { op: 'set', key: key!, value: value!, group: o.group as string | undefined } : { op: 'status' }, { security });
    if (op === 'metrics') process.stdout.write((o.json ? JSON.stringify((JSON.parse(text) as { metrics?: unknown }).metrics ?? null) : formatMetrics(text)) + '\n');
    else process.stdout.write((op === 'status' && !o.json ? formatStatus(text) : text) + '\n');
  } catch (err) {
    // The RM refused the request (a value only it can check: `primary S9` with no replica S9): a bad argument too.
    exitWith(err instanceof AdminRefusedError ? 2 : 1, 'ctl', (err as Error).message);
  }
};
