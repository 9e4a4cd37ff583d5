/**
 * Why the RM refuses a `ctl set` (PROTOCOL §6.25): a value the property does not take, a
 * system-wide property set for one group, a group or a primary that does not exist. A refusal
 * is the administrator's mistake, answered with its reason; the RM's state is left as it was.
 */
import { parseProperty } from '../lib/config/properties.js';
import type { MessageOf } from '../lib/protocol/index.js';
import type { GroupTable } from './group.js';

/** Properties that apply to every group at once (the detectors'), never to one group. */
const SYSTEM_PROPERTIES = new Set(['lfd-heartbeat-freq', 'gfd-heartbeat-freq']);

/** Why `ctl set key value [--group g]` cannot be done, or undefined. */
export function setRefusal({ key, value, group }: MessageOf<'set'>, groups: GroupTable): string | undefined {
  try {
    parseProperty(key, value);
  } catch (err) {
    return (err as Error).message;
  }
  const names = () => groups.inOrder().map((g) => g.name).join(', ');
  if (group && SYSTEM_PROPERTIES.has(key)) return `${key} applies to every group: set it without --group`;
  // `replicas` may start a group that has no replica yet; anything else needs one that exists.
  if (group && key !== 'replicas' && !groups.has(group)) return `no replica group ${group} (groups: ${names()})`;
  if (key === 'primary') {
    const of = groups.of(value);
    if (!of.core.members.has(value)) {
      const all = groups.inOrder().flatMap((g) => g.core.names());
      return `primary: no replica ${value} (replicas: ${all.join(', ') || 'none'})`;
    }
    if (group && of.name !== group) return `primary: ${value} is in group ${of.name}, not ${group}`;
  }
  return undefined;
}
