/** `ftkit ctl status | metrics | set <key> <value> | fault <server> <kind> [amount]`: one request to the RM, its answer on stdout. */
import { ctlRequest, formatMetrics, formatStatus, type CtlRequest } from '../clients/ctl.js';
import { checkSlowOrder, type SlowFaultOrder } from '../lib/faults.js';
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
  const req: CtlRequest = op === 'set' ? { op: 'set', key: key!, value: value!, group: o.group as string | undefined } : op === 'fault' ? faultRequest(key!, value!, o) : { op: 'status' };
  const security = securityFor('ctl', o, { listens: false, dials: true });
  try {
    const text = await ctlRequest(o.rm as string, req, { security });
    if (op === 'metrics') process.stdout.write((o.json ? JSON.stringify((JSON.parse(text) as { metrics?: unknown }).metrics ?? null) : formatMetrics(text)) + '\n');
    else process.stdout.write((op === 'status' && !o.json ? formatStatus(text) : text) + '\n');
  } catch (err) {
    // The RM refused the request (a value only it can check: `primary S9` with no replica S9): a bad argument too.
    exitWith(err instanceof AdminRefusedError ? 2 : 1, 'ctl', (err as Error).message);
  }
};

/** `fault S2 delay 50 --for 10`: the order, checked here (exit 2 if it makes no sense). */
function faultRequest(server: string, spec: string, o: Record<string, unknown>): CtlRequest {
  const [kind = '', amount = '0'] = spec.trim().split(/\s+/);
  const order = { kind, amount: Number(amount), seconds: o.for === undefined ? 0 : Number(o.for) } as SlowFaultOrder;
  const refusal = checkSlowOrder(order) ?? (Number.isInteger(order.amount) && Number.isInteger(order.seconds) ? undefined : 'the amount and --for take whole numbers');
  if (refusal) exitWith(2, 'ctl', `fault ${server} ${spec}: ${refusal}`);
  return { op: 'inject', server, fault: order.kind, amount: order.amount, seconds: order.seconds };
}
