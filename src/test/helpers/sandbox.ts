import { setTimeout as sleep } from 'node:timers/promises';
import type { SandboxT, SnapshotT } from '../../api/index.js';
import type { TestDaemon } from './daemon.js';

export async function sh(t: TestDaemon, name: string, script: string): Promise<string> {
  const r = await t.api.call('exec', { params: { name }, body: { command: ['sh', '-c', script] } });
  if (r.exitCode !== 0) throw new Error(`exec in ${name} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

/** Polls `check` until it gives a value; on giving up, says what it waited for and the last error `check` threw. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    const v = await check().catch((e: unknown) => {
      lastError = e;
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${lastError ? `; last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}` : ''}`, { cause: lastError });
    await sleep(25);
  }
}

export function snapshot(t: TestDaemon, sandbox: string, name: string, leaveRunning = false): Promise<SnapshotT> {
  return t.api.progress<SnapshotT>('createSnapshot', { params: { name: sandbox }, body: { name, leaveRunning } }, () => undefined);
}

export function restore(t: TestDaemon, snap: string, name?: string): Promise<SandboxT> {
  return t.api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body: name ? { name } : {} }, () => undefined);
}

/** Writes a file inside a sandbox through exec's stdin. */
export async function put(t: TestDaemon, name: string, path: string, content: string): Promise<void> {
  const r = await t.api.call('exec', { params: { name }, body: { command: ['sh', '-c', `cat > ${path}`], stdin: content } });
  if (r.exitCode !== 0) throw new Error(`writing ${path} in ${name} failed: ${r.stderr}`);
}
