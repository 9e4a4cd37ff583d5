/** `ftkit ctl status | set <key> <value>`: one request to the RM, its answer on stdout. */
import { ctlRequest, formatStatus } from '../clients/ctl.js';
import { exitWith, securityFor, type Runner } from './process.js';

export const ctl: Runner = async (o, [op, key, value]) => {
  const security = securityFor('ctl', o, { listens: false, dials: true });
  try {
    const text = await ctlRequest(o.rm as string, op === 'status' ? { op: 'status' } : { op: 'set', key: key!, value: value! }, { security });
    process.stdout.write((op === 'status' && !o.json ? formatStatus(text) : text) + '\n');
  } catch (err) {
    exitWith(1, 'ctl', (err as Error).message);
  }
};
