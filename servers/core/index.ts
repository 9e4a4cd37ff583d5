/** The replica's pure core: servers/server.ts is its shell. */
export { ReplicaCore, type RoleFields } from './replica.js';
export { ServiceState, digest, fingerprint, type Snapshot, type Lookup, type FrozenCheckpoint } from './state.js';
export { createApp, type App, type AppName } from './apps.js';
export * from './types.js';
export { recover, type DiskSnapshot, type DiskEntry } from './recover.js';
