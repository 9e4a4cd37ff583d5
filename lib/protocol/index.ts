export * from './errors.js';
export * from './codec.js';
export * from './framer.js';
export * from './messages.js';
