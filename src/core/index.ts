export * from './vocabulary.js';
export * from './errors.js';
export * from './names.js';
export * from './limits.js';
export * from './sandbox-state.js';
export * from './ipam.js';
export * from './compat.js';
// Types only: the schemas need TypeBox, which the CLI does not load at start (import them from the file).
export type { GpuDevice, GpuInfo, HostFingerprint } from './fingerprint.js';
export * from './api-keys.js';
export * from './actor.js';
export * from './sandbox-spec.js';
export * from './signals.js';
export * from './scheduler.js';
export * from './gpus.js';
export * from './clock.js';
