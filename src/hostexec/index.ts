export * from './host.js';
export * from './host-files.js';
export * from './local-host.js';
export * from './ssh-host.js';
export * from './pipe.js';
export * from './spawner.js';
export * from './spawner-protocol.js';
