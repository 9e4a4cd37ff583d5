/** A partial partition between the passive leader and one follower on namespace hosts: see test/helpers/partition.ts. */
import { partitionScenario } from '../helpers/partition.js';

partitionScenario('passive');
