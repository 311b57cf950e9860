import { LocalHost } from '../hostexec/index.js';

/**
 * This machine, for the callers in snapshot/ that do not pass their Host yet
 * (the checkpointer calls connectInit, findGpuProcesses and hostPidsOf
 * without one; snapshot/ is being rewritten on another branch). Delete it
 * once they pass `this.host`.
 */
export const LEGACY_LOCAL_HOST = new LocalHost();
