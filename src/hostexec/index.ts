export * from './host.js';
export * from './local-host.js';
