export * from './tracer.js';
export * from './render.js';
