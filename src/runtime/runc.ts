import type { Host, RunOptions } from '../hostexec/index.js';

export type RuncStatus = 'created' | 'running' | 'paused' | 'stopped';

export interface RuncState {
  id: string;
  pid: number;
  status: RuncStatus;
}

/** runc, under bothub's own --root so our containers never mix with anyone else's. */
export class Runc {
  constructor(
    private readonly host: Host,
    readonly root: string,
  ) {}

  private exec(args: readonly string[], options?: RunOptions) {
    return this.host.run('runc', ['--root', this.root, ...args], options);
  }

  async run(id: string, bundle: string, signal?: AbortSignal): Promise<void> {
    await this.exec(['run', '--detach', '--bundle', bundle, id], { signal });
  }

  async state(id: string): Promise<RuncState | undefined> {
    const r = await this.exec(['state', id], { allowFailure: true });
    if (r.code !== 0) return undefined;
    return JSON.parse(r.stdout) as RuncState;
  }

  async list(): Promise<RuncState[]> {
    const r = await this.exec(['list', '--format', 'json']);
    return (JSON.parse(r.stdout || 'null') as RuncState[] | null) ?? [];
  }

  async kill(id: string, signal: string): Promise<void> {
    await this.exec(['kill', id, signal], { allowFailure: true });
  }

  /** Kills whatever still runs and forgets the container; fine if it is gone. */
  async delete(id: string): Promise<void> {
    const r = await this.exec(['delete', '--force', id], { allowFailure: true });
    if (r.code !== 0 && !/does not exist|not exist/.test(r.stderr)) {
      throw new Error(`runc delete ${id}: ${r.stderr.trim()}`);
    }
  }

  async version(): Promise<string> {
    const r = await this.host.run('runc', ['--version']);
    return /runc version (\S+)/.exec(r.stdout)?.[1] ?? r.stdout.split('\n')[0] ?? 'unknown';
  }
}
