/**
 * The RM's orders, routed through GFD and LFD: the role (mode, epoch, ready, leader, group),
 * checkpoint orders for newcomers, the query for what a replica holds, and run-time properties;
 * and the loss of the LFD link they come on.
 */
import type { MessageOf } from '../../lib/protocol/index.js';
import { parseProperty } from '../../lib/config/properties.js';
import type { ReplicaCore } from './replica.js';
import { Leader } from './leader.js';
import { EARLY_ORDERS_LIMIT, LAG_PER_HEARTBEAT, type ControlMessage } from './types.js';

export function control(r: ReplicaCore, msg: ControlMessage): void {
  switch (msg.type) {
    case 'role':
      return onRole(r, msg);
    case 'sendCheckpoint':
      return onSendCheckpoint(r, msg);
    case 'query':
      return r.report();
    case 'set':
      return onSet(r, msg);
  }
}

function onRole(r: ReplicaCore, msg: MessageOf<'role'>): void {
  if (msg.epoch < r.epoch) {
    r.trace('stale_role', 'fault', `${r.name}: ignoring a role for epoch ${msg.epoch}; current epoch is ${r.epoch}`);
    return;
  }
  const leaderChanged = msg.leader !== r.leader;
  const renewed = r.isLeader && msg.leader === r.name && msg.epoch > r.epoch;
  // Made not ready after being ready, or for a newer epoch: our state must come from a checkpoint
  // again, unless the leader's checkpoint of that epoch got here first (it travels another way).
  if (!msg.ready && (r.ready || msg.epoch > r.epoch) && r.installedAtEpoch !== msg.epoch) r.caughtUp = false;
  r.installedAtEpoch = -1;
  // Orders held past a gap came from the old leader: the new one decides what follows.
  if (msg.epoch > r.epoch) r.early.clear();
  r.setRole(msg, 'the RM chose another leader');
  // A replica that is not ready answers no one, and tells the RM what it holds, in case no ready replica survives.
  if (!r.ready) {
    r.rejectPending(r.notHere);
    r.report();
  }
  if (r.isLeader) {
    r.emit({ type: 'keepPeers', members: r.progress.links() });
    if (renewed && r.handler instanceof Leader) r.handler.renew();
    for (const order of r.earlyOrders.splice(0)) if (order.epoch === r.epoch) onSendCheckpoint(r, order);
    r.leaderCommit();
  } else {
    // Orders for an epoch we now know we do not lead are void.
    for (let i = r.earlyOrders.length - 1; i >= 0; i--) if (r.earlyOrders[i]!.epoch <= r.epoch) r.earlyOrders.splice(i, 1);
    if (leaderChanged && r.leaderConnPeer !== r.leader) r.leaderConn = undefined;
  }
  // What the leader of this epoch sent before the role reached us goes through now.
  r.door.release();
}

function onSendCheckpoint(r: ReplicaCore, msg: MessageOf<'sendCheckpoint'>): void {
  if (msg.epoch > r.epoch) {
    // The RM made us leader of a newer epoch and the role is still on its way: carry it out then.
    if (r.earlyOrders.length < EARLY_ORDERS_LIMIT) r.earlyOrders.push(msg);
    r.trace('checkpoint_order_deferred', 'state', `${r.name}: asked to checkpoint to ${msg.target.name} for epoch ${msg.epoch}; waiting for my role of that epoch`);
    return;
  }
  if (!r.isLeader || msg.epoch < r.epoch || !(r.handler instanceof Leader)) {
    r.trace('checkpoint_order_ignored', 'fault', `${r.name}: asked to checkpoint to ${msg.target.name} but I am not the leader of epoch ${msg.epoch}`);
    return;
  }
  r.handler.feedNewcomer(r.progress.addNewcomer(msg.target));
}

/** The properties a replica applies: `checkpoint-freq`, `lag-timeout`, and its LFD's heartbeat period (the lag timeout follows it unless fixed). */
function onSet(r: ReplicaCore, msg: MessageOf<'set'>): void {
  if (msg.key !== 'checkpoint-freq' && msg.key !== 'lag-timeout' && msg.key !== 'lfd-heartbeat-freq') return;
  let seconds: number;
  try {
    seconds = parseProperty(msg.key, msg.value) as number;
  } catch (err) {
    return r.trace('property_rejected', 'fault', `${r.name}: ${(err as Error).message}`);
  }
  if (msg.key === 'checkpoint-freq') {
    r.checkpointMs = seconds * 1000;
    r.trace('property_set', 'state', `${r.name}: checkpoint_freq = ${msg.value} s`, { key: msg.key, value: seconds });
    if (r.checkpointTimer) r.emit({ type: 'setTimer', timer: 'checkpoint', ms: r.checkpointMs, repeat: true });
    tellInForce(r, 'checkpoint-freq');
    return;
  }
  if (msg.key === 'lfd-heartbeat-freq' && r.lag.fixed) return;
  r.lag.fixed ||= msg.key === 'lag-timeout';
  const lagMs = msg.key === 'lag-timeout' ? seconds * 1000 : seconds * 1000 * LAG_PER_HEARTBEAT;
  if (lagMs === r.lag.ms) return;
  r.lag.ms = lagMs;
  r.trace('property_set', 'state', `${r.name}: lag_timeout = ${lagMs / 1000} s${msg.key === 'lag-timeout' ? '' : ` (${LAG_PER_HEARTBEAT} heartbeats of ${msg.from})`}`, { key: 'lag-timeout', value: lagMs / 1000 });
  tellInForce(r, 'lag-timeout');
}

/** Tell the RM (through the LFD) what a property of ours is now: every one when we register, one when it changes. */
export function tellInForce(r: ReplicaCore, key?: 'checkpoint-freq' | 'lag-timeout'): void {
  const values = { 'checkpoint-freq': r.checkpointMs / 1000, 'lag-timeout': r.lag.ms / 1000 };
  for (const k of key ? [key] : (Object.keys(values) as Array<keyof typeof values>)) {
    r.emit({ type: 'toLfd', msg: { type: 'inForce', from: r.name, key: k, value: String(values[k]) } });
  }
}

/**
 * Our LFD connection dropped: the LFD has declared us dead (or is dead itself), and the
 * RM will act on it. Stop serving at once; to serve again we must be made ready after a
 * fresh checkpoint, like any newcomer.
 */
export function detach(r: ReplicaCore): void {
  const wasCaughtUp = r.ready || r.caughtUp;
  r.setRole({ mode: r.mode, role: 'none', epoch: r.epoch, ready: false, leader: r.leader, group: r.group }, 'lost contact with my LFD');
  if (wasCaughtUp) r.trace('detached', 'fault', `${r.name}: lost contact with my LFD; not ready until I catch up again`);
  r.caughtUp = false;
  r.rejectPending(r.notHere);
}
