/**
 * Durable replicas in passive mode: three replicas with data dirs, clients appending, kill -9 of
 * all three at once, ten rounds (test/helpers/durable.ts).
 */
import t from 'tap';
import { KILL_ALL_TITLE, killAllRounds } from '../helpers/durable.js';

t.setTimeout(200_000);
t.test(`passive: ${KILL_ALL_TITLE}`, (t) => killAllRounds(t, 'passive'));
