export { AddressError, ConnectTimeoutError, ConnectionClosedError, DeadlineError, RefusedError } from '../errors.js';
export * from './address.js';
export * from './backoff.js';
export * from './connection.js';
export * from './listener.js';
export * from './link.js';
export * from './replicas.js';
export * from './auth.js';
