import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient, SandboxT } from '../api/index.js';

/** What the client was told, and so may count on after any crash. */
export interface SandboxModel {
  name: string;
  /** Files written and fsynced by an acknowledged exec: path → content. */
  files: Map<string, string>;
  /** What its status must be: an acknowledged snapshot without --leave-running stopped it into the snapshot. */
  expect: 'running' | 'snapshotted';
  /** The snapshot it is stopped in. */
  snapshot?: string;
  host: string;
  /** On the peers network, which joins sandboxes of one machine: it is never moved. */
  peers?: boolean;
}

export interface SnapshotModel {
  name: string;
  sandbox: string;
  files: Map<string, string>;
  leaveRunning: boolean;
  peers?: boolean;
}

export const FILES_DIR = '/root/chaos';

/** One line per file: name=content (contents are hex, so no escaping). */
const LIST_FILES = `cd ${FILES_DIR} 2>/dev/null || exit 0; for f in *; do printf '%s=%s\\n' "$f" "$(cat "$f")"; done`;

export async function readFiles(api: ApiClient, name: string): Promise<Map<string, string>> {
  const r = await api.call('exec', { params: { name }, body: { command: ['sh', '-c', LIST_FILES], timeoutMs: 60_000 } });
  if (r.exitCode !== 0) throw new Error(`listing files of ${name}: ${r.stderr}`);
  return new Map(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => [`${FILES_DIR}/${l.slice(0, l.indexOf('='))}`, l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
}

/**
 * The sandboxes, once every fleet host answers again: a restarted daemon
 * marks a host unreachable until its first heartbeat gets through.
 */
async function settled(api: ApiClient, timeoutMs = 90_000): Promise<SandboxT[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await api.call('listSandboxes');
    if (!list.some((s) => s.status === 'unknown') || Date.now() > deadline) return list;
    await sleep(500);
  }
}

export class ChaosModel {
  readonly sandboxes = new Map<string, SandboxModel>();
  readonly snapshots = new Map<string, SnapshotModel>();

  running(local = true): SandboxModel[] {
    return [...this.sandboxes.values()].filter((s) => s.expect === 'running' && (!local || s.host === 'local'));
  }

  stopped(): SandboxModel[] {
    return [...this.sandboxes.values()].filter((s) => s.expect === 'snapshotted');
  }

  /** Snapshots no sandbox is stopped in (those may be deleted). */
  free(): SnapshotModel[] {
    const held = new Set(this.stopped().map((s) => s.snapshot));
    return [...this.snapshots.values()].filter((s) => !held.has(s.name));
  }

  /**
   * Compares what the client was told with what the daemon now says and holds;
   * returns one line per loss. Afterwards the model follows reality, so one loss
   * is counted once.
   */
  async verify(api: ApiClient): Promise<string[]> {
    const problems: string[] = [];
    const real = new Map((await settled(api)).map((s) => [s.name, s]));
    const snaps = new Set((await api.call('listSnapshots', { query: {} })).map((s) => s.name));
    for (const snap of this.snapshots.values()) {
      if (snaps.has(snap.name)) continue;
      problems.push(`snapshot ${snap.name}: acknowledged ready, now not listed`);
      this.snapshots.delete(snap.name);
    }
    for (const sb of [...this.sandboxes.values()]) {
      const r = real.get(sb.name);
      if (!r) {
        problems.push(`sandbox ${sb.name}: acknowledged, now gone`);
        this.sandboxes.delete(sb.name);
        continue;
      }
      if (r.status !== sb.expect) {
        problems.push(`sandbox ${sb.name}: expected ${sb.expect}, is ${r.status} (${r.statusReason ?? ''})`);
        await this.adopt(api, sb, r);
        continue;
      }
      if (sb.expect !== 'running') continue;
      const files = await readFiles(api, sb.name).catch((e: Error) => e);
      if (files instanceof Error) {
        problems.push(`sandbox ${sb.name}: its files cannot be read: ${files.message}`);
        continue;
      }
      for (const [path, content] of sb.files) {
        const got = files.get(path);
        if (got !== content) problems.push(`sandbox ${sb.name}: ${path} ${got === undefined ? 'is gone' : 'changed'}`);
      }
      sb.files = new Map([...sb.files].filter(([p]) => files.has(p)));
    }
    return problems;
  }

  /** A sandbox in a state the driver does not use again (exited, error) is destroyed and forgotten. */
  private async adopt(api: ApiClient, sb: SandboxModel, r: SandboxT): Promise<void> {
    if (r.status === 'running' || r.status === 'snapshotted') {
      sb.expect = r.status;
      return;
    }
    await api.call('destroySandbox', { params: { name: sb.name } }).catch(() => undefined);
    this.sandboxes.delete(sb.name);
  }
}
