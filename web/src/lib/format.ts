import type { SandboxT } from '../../../src/api/schemas.js';

/** What a tile shows: the state a person thinks in, from status and thermal. */
export type DisplayState = 'hot' | 'warm' | 'cold' | 'stopped' | 'failed' | 'moving' | 'creating' | 'unknown';

export function displayState(s: Pick<SandboxT, 'status' | 'thermal'>): DisplayState {
  switch (s.status) {
    case 'running':
      return s.thermal;
    case 'stopped':
    case 'exited':
    case 'snapshotted':
      return 'stopped';
    case 'error':
      return 'failed';
    case 'moving':
    case 'creating':
    case 'unknown':
      return s.status;
  }
}

export const STATE_LABEL: Record<DisplayState, string> = {
  hot: 'running',
  warm: 'warm (paused)',
  cold: 'cold (on disk)',
  stopped: 'stopped',
  failed: 'failed',
  moving: 'moving',
  creating: 'creating',
  unknown: 'unknown',
};

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export const time = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—');

/** Which actions make sense in a state (the daemon still decides). */
export function actionsFor(state: DisplayState): Action[] {
  switch (state) {
    case 'hot':
      return ['pause', 'freeze', 'stop', 'destroy'];
    case 'warm':
    case 'cold':
      return ['resume', 'stop', 'destroy'];
    case 'stopped':
    case 'failed':
      return ['start', 'destroy'];
    default:
      return ['destroy'];
  }
}

export type Action = 'pause' | 'resume' | 'freeze' | 'stop' | 'start' | 'destroy';

export const ACTION_ROUTE = {
  pause: 'pauseSandbox',
  resume: 'resumeSandbox',
  freeze: 'freezeSandbox',
  stop: 'stopSandbox',
  start: 'startSandbox',
  destroy: 'destroySandbox',
} as const;

export const ACTION_WARNING: Record<Action, string> = {
  pause: 'Its processes are frozen in place; memory stays. The next request wakes it.',
  resume: 'It wakes and runs again.',
  freeze: 'Its running state goes to disk and its processes stop; memory is freed. The next request wakes it.',
  stop: 'Every process stops; the files stay.',
  start: 'It starts again from its files.',
  destroy: 'The sandbox and everything it holds are removed. This cannot be undone.',
};
