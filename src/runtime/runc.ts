import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
    // runc reads its root's entries, then each container's state: one deleted in between
    // (a freeze or a destroy at that moment) fails the whole list, so it is read again.
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.exec(['list', '--format', 'json']);
        return (JSON.parse(r.stdout || 'null') as RuncState[] | null) ?? [];
      } catch (e) {
        if (attempt === 3 || !/no such file or directory/.test((e as Error).message)) throw e;
      }
    }
  }

  /**
   * PID of the container's init as runc recorded it, read from runc's state
   * file: spawning runc just to ask costs ~10 ms.
   */
  async initPid(id: string): Promise<number | undefined> {
    try {
      const state = JSON.parse(await this.host.readTextFile(join(this.root, id, 'state.json'))) as { init_process_pid?: number };
      return state.init_process_pid || undefined;
    } catch {
      return undefined;
    }
  }

  /** SIGKILLs the container's init (the kernel then kills its whole PID namespace) and waits for it to die. */
  async killNow(id: string, timeoutMs = 2000): Promise<void> {
    const pid = await this.initPid(id);
    if (!pid || !(await isAlive(this.host, pid))) return;
    if (!(await this.host.kill(pid, 'SIGKILL').catch(() => false))) return;
    await waitForExit(this.host, pid, timeoutMs, 20);
  }

  async resume(id: string): Promise<void> {
    await this.exec(['resume', id], { allowFailure: true });
  }

  async kill(id: string, signal: string): Promise<void> {
    await this.exec(['kill', id, signal], { allowFailure: true });
  }

  /** Kills whatever still runs and forgets the container; fine if it is gone. */
  async delete(id: string): Promise<void> {
    await this.killNow(id);
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

/** Alive and not a zombie: a killed init lingers as a zombie until its parent reaps it. */
export async function isAlive(host: Host, pid: number): Promise<boolean> {
  try {
    const stat = await host.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until the process is gone (or a zombie), backing off up to `maxDelayMs`; false when it outlived the timeout. */
export async function waitForExit(host: Host, pid: number, timeoutMs: number, maxDelayMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; await isAlive(host, pid); delay = Math.min(delay * 2, maxDelayMs)) {
    if (Date.now() >= deadline) return false;
    await sleep(delay);
  }
  return true;
}
