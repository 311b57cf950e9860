/**
 * The words the API, the records and the logic share, each defined once: the
 * API's schemas are built from these lists, the database row types and the
 * core logic use their types. Pure and import-free, so the SDK copies it.
 */

/**
 * The life of a sandbox. `exited` is a sandbox whose processes vanished without
 * bothub stopping it (a crash, a host reboot): kept, so the user can see it and
 * start it again. `moving` is a sandbox on its way to another host; `unknown`
 * one whose host does not answer (shown, never stored).
 */
export const SANDBOX_STATUSES = ['creating', 'running', 'stopped', 'exited', 'snapshotted', 'error', 'moving', 'unknown'] as const;
export type SandboxStatus = (typeof SANDBOX_STATUSES)[number];

/** hot: running; warm: frozen in place; cold: on disk, processes gone. */
export const THERMAL_STATES = ['hot', 'warm', 'cold'] as const;
export type ThermalState = (typeof THERMAL_STATES)[number];

/**
 * default: own address, outbound NAT, no other sandbox reachable.
 * peers: the same, and the owner's other `peers` sandboxes reachable both ways.
 * none: loopback only.
 */
export const NETWORK_MODES = ['default', 'peers', 'none'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

/**
 * Sandbox, image, snapshot and host names double as DNS labels in preview
 * URLs (NAME-PORT.localhost), so they follow DNS label rules and stay short
 * enough for the port suffix to fit.
 */
export const NAME_PATTERN = '^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$';
/** The rule of NAME_PATTERN, in words, for error messages. */
export const NAME_RULE = 'use 1-48 lowercase letters, digits and dashes, starting and ending with a letter or digit';
