/** The one back-off policy: exponential, capped, jittered within [delay/2, delay], giving up after maxAttempts. */
import t from 'tap';
import { backoffDelay, exponentialBackoff, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS } from '../../lib/net/backoff.js';

t.test('backoffDelay doubles from the base and stops at the cap', async (t) => {
  t.same([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, 100, 1000)), [100, 200, 400, 800, 1000, 1000]);
  t.equal(backoffDelay(1), DEFAULT_BACKOFF_BASE_MS, 'defaults: the base first');
  t.equal(backoffDelay(1000), DEFAULT_BACKOFF_CAP_MS, 'defaults: the cap, however many attempts');
});

t.test('exponentialBackoff draws each delay between half the ceiling and the ceiling', async (t) => {
  const low = exponentialBackoff({ baseMs: 100, capMs: 1000, random: () => 0 });
  const high = exponentialBackoff({ baseMs: 100, capMs: 1000, random: () => 1 });
  t.same([1, 2, 3, 4, 5].map((a) => low(a, undefined)), [50, 100, 200, 400, 500]);
  t.same([1, 2, 3, 4, 5].map((a) => high(a, undefined)), [100, 200, 400, 800, 1000]);
  const real = exponentialBackoff({ baseMs: 100, capMs: 1000 });
  for (let a = 1; a <= 8; a++) {
    const d = real(a, undefined) as number;
    t.ok(d >= backoffDelay(a, 100, 1000) / 2 && d <= backoffDelay(a, 100, 1000), `attempt ${a}: ${d} ms within bounds`);
  }
});

t.test('exponentialBackoff gives up after maxAttempts, and never without it', async (t) => {
  const three = exponentialBackoff({ maxAttempts: 3 });
  t.type(three(3, new Error('refused')), 'number', 'the third failure still waits');
  t.equal(three(4, new Error('refused')), false, 'the fourth gives up');
  t.type(exponentialBackoff()(10_000, undefined), 'number');
});
