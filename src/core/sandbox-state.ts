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

const NEXT_STEP: Record<SandboxStatus, string> = {
  creating: 'wait for it to finish',
  running: 'stop it first with `bothub stop NAME`, or branch a copy with `bothub snapshot restore SNAP --name NEW`',
  stopped: 'start it with `bothub start NAME`',
  exited: 'start it again with `bothub start NAME`',
  snapshotted: 'restore it with `bothub snapshot restore SNAP`',
  error: 'destroy it with `bothub destroy NAME`',
  moving: 'wait for the move to finish (`bothub inspect NAME`)',
  unknown: 'its host does not answer; see `bothub host list`, and try again when it is back',
};

export function assertAllowed(name: string, status: SandboxStatus, action: SandboxAction): void {
  if (!ALLOWED[action].includes(status)) {
    throw new BothubError('INVALID_STATE', `cannot ${action} sandbox "${name}" while it is ${status}; ${NEXT_STEP[status]}`);
  }
}
