/** `ftkit sync`: carry the sns outboxes between replica groups until stopped. */
import { Sync } from '../sync/sync.js';
import { securityFor, serve, tracerFor, type Runner } from './process.js';

export const sync: Runner = async (o) => {
  const tracer = tracerFor('sync', o);
  const component = new Sync({ rm: o.rm as string, groups: o.groups as string[], security: securityFor('sync', o, { listens: false, dials: true }, tracer), tracer });
  await serve(component);
};
