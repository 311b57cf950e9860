export * from './errors.js';
export * from './names.js';
export * from './limits.js';
export * from './sandbox-state.js';
export * from './ipam.js';
export * from './compat.js';
export * from './api-keys.js';
export * from './actor.js';
