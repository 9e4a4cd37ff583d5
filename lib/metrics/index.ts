/** Measuring links and processes, pure but for the reporter's timer: docs/OBSERVABILITY.md. */
export * from './histogram.js';
export * from './report.js';
export * from './recorder.js';
export * from './pending.js';
export * from './probe.js';
export * from './loop.js';
export { MetricsReportError } from '../errors.js';
export * from './summary.js';
