/** Run-time properties are validated before the RM forwards or acts on them. */
import t from 'tap';
import { MAX_REPLICAS, parseProperty } from '../../lib/config/properties.js';

t.test('valid values parse to their types', async (t) => {
  t.equal(parseProperty('lfd-heartbeat-freq', '0.05'), 0.05);
  t.equal(parseProperty('checkpoint-freq', '2'), 2);
  t.equal(parseProperty('primary', 'S2'), 'S2');
  t.equal(parseProperty('replicas', '4'), 4);
  t.equal(parseProperty('replicas', String(MAX_REPLICAS)), MAX_REPLICAS);
});

t.test('bad values name the key and the reason', async (t) => {
  t.throws(() => parseProperty('replicas', '0'), /replicas: expected a whole number ≥ 1/);
  t.throws(() => parseProperty('replicas', '100000000'), new RegExp(`replicas: expected at most ${MAX_REPLICAS}`));
  t.throws(() => parseProperty('replicas', 'three'), /replicas: expected a whole number/);
  t.throws(() => parseProperty('gfd-heartbeat-freq', 'abc'), /gfd-heartbeat-freq: /);
  t.throws(() => parseProperty('colour', 'red'), /unknown property "colour" \(known: lfd-heartbeat-freq/);
});
