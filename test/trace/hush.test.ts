/** A hushed tracer drops what its hush matches (sink and listeners alike), its children's events too. */
import t from 'tap';
import { Tracer, type TraceEvent } from '../../lib/trace/index.js';

t.test('hush drops matching events from the sink and the listeners, children included', async (t) => {
  const sunk: TraceEvent[] = [];
  const heard: TraceEvent[] = [];
  const tracer = new Tracer('LFD1', (e) => sunk.push(e));
  tracer.on('event', (e) => heard.push(e));
  const child = tracer.child('S1');
  tracer.emitEvent('heartbeat_failed', 'fault', 'before');
  tracer.hush((type, category) => category === 'fault' && type !== 'lifecycle');
  tracer.emitEvent('heartbeat_failed', 'fault', 'after');
  child.emitEvent('output', 'fault', 'child after');
  tracer.emitEvent('lifecycle', 'state', 'LFD1: running -> stopping');
  t.same(sunk.map((e) => e.text), ['before', 'LFD1: running -> stopping']);
  t.same(heard.map((e) => e.text), ['before', 'LFD1: running -> stopping']);
  t.ok(tracer.isHushed('x', 'fault'));
  t.notOk(tracer.isHushed('x', 'info'));
});
