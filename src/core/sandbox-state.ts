import { BothubError } from './errors.js';
import type { SandboxStatus } from './vocabulary.js';

export type SandboxAction = 'exec' | 'stop' | 'start' | 'destroy' | 'logs' | 'snapshot' | 'restore' | 'move';

const ALLOWED: Record<SandboxAction, readonly SandboxStatus[]> = {
  exec: ['running'],
  stop: ['running'],
  start: ['stopped', 'exited', 'error'],
  destroy: ['running', 'stopped', 'exited', 'snapshotted', 'error', 'creating'],
  logs: ['running', 'stopped', 'exited', 'snapshotted', 'error'],
  snapshot: ['running'],
  restore: ['stopped', 'exited', 'snapshotted', 'error'],
  move: ['running'],
};

/** What to do next, in API terms, for a sandbox named n in each status. */
const NEXT_STEP: Record<SandboxStatus, (n: string) => string> = {
  creating: () => 'wait for it to finish',
  running: (n) => `stop it first (\`POST /api/v1/sandboxes/${n}/stop\`), or branch a copy from a snapshot (\`POST /api/v1/snapshots/SNAP/restore {"name": "NEW"}\`)`,
  stopped: (n) => `start it (\`POST /api/v1/sandboxes/${n}/start\`)`,
  exited: (n) => `start it again (\`POST /api/v1/sandboxes/${n}/start\`)`,
  snapshotted: () => 'restore it (`POST /api/v1/snapshots/SNAP/restore`)',
  error: (n) => `destroy it (\`DELETE /api/v1/sandboxes/${n}\`)`,
  moving: (n) => `wait for the move to finish (\`GET /api/v1/sandboxes/${n}\`)`,
  unknown: () => 'its host does not answer; see `GET /api/v1/hosts`, and try again when it is back',
};

export function assertAllowed(name: string, status: SandboxStatus, action: SandboxAction): void {
  if (!ALLOWED[action].includes(status)) {
    throw new BothubError('INVALID_STATE', `cannot ${action} sandbox "${name}" while it is ${status}; ${NEXT_STEP[status](name)}`);
  }
}
