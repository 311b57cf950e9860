export * from './host.js';
export * from './local-host.js';
export * from './ssh-host.js';
export * from './pipe.js';
