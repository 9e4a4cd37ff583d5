/**
 * The RM's orders to the servers, built from what its core holds (pure): the role each replica
 * is told (mode, role, epoch, readiness, leader, the ready group) and the leader's order to send
 * a newcomer a checkpoint. The core (core.ts) decides when they go out.
 */
import type { ReplicationCore, RmCommand } from './core.js';

/** The `role` message for `name`, as things stand. */
export function roleFor(core: ReplicationCore, name: string): RmCommand {
  const m = core.members.get(name)!;
  return {
    type: 'send',
    msg: {
      type: 'role',
      server: name,
      mode: core.mode,
      role: core.roleOf(name),
      epoch: core.epoch,
      ready: m.ready,
      leader: core.leader ?? '',
      group: core.ready().map(({ name: n, addr }) => ({ name: n, addr })),
    },
  };
}

/** Every replica's role, in name order; and new views for the clients if the ready set or the leader changed. */
export function rolesToAll(core: ReplicationCore, viewsChanged: boolean): RmCommand[] {
  const out = core.names().map((n) => roleFor(core, n));
  return viewsChanged ? [...out, { type: 'views' }] : out;
}

/** The leader's order to send `target` a checkpoint of the current epoch. */
export function checkpointOrder(core: ReplicationCore, target: string): RmCommand {
  const t = core.members.get(target)!;
  return { type: 'send', msg: { type: 'sendCheckpoint', server: core.leader!, target: { name: t.name, addr: t.addr }, epoch: core.epoch } };
}
