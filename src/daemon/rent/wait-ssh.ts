import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { BothubError } from '../../core/index.js';
import type { Progress } from '../../runtime/index.js';
import type { Provider, SshAddress } from '../providers/index.js';

const POLL_MS = 1000;

/** Whether an SSH server answers there: its banner ("SSH-2.0-…") within a few seconds. */
function sshAnswers(a: SshAddress): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: a.address, port: a.port, timeout: 3000 });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('data', (b: Buffer) => done(b.toString('latin1').startsWith('SSH-')));
    sock.once('timeout', () => done(false));
    sock.once('error', () => done(false));
  });
}

/**
 * Polls the provider until the instance runs and has an SSH address, then
 * that address until sshd answers. Bounded: past `timeoutMs` it fails
 * (TIMED_OUT), and the caller destroys the instance.
 */
export async function waitForSsh(provider: Provider, instanceId: string, timeoutMs: number, onProgress: (p: Progress) => void, signal?: AbortSignal): Promise<SshAddress> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  const say = (message: string) => {
    if (message !== last) onProgress({ step: 'ssh', message });
    last = message;
  };
  for (;;) {
    if (signal?.aborted) throw new BothubError('ABORTED', `waiting for ${provider.name} instance ${instanceId} was cancelled`);
    const inst = await provider.getInstance(instanceId, signal).catch((e: BothubError) => (e.code === 'PROVIDER_RATE_LIMITED' || e.code === 'UNAVAILABLE' ? undefined : Promise.reject(e)));
    if (inst === null || inst?.status === 'gone') throw new BothubError('PROVIDER_FAILED', `${provider.name}: instance ${instanceId} ended before it was reachable`);
    if (inst?.ssh) {
      say(`instance ${inst.status}; SSH at ${inst.ssh.address}:${inst.ssh.port}`);
      if (await sshAnswers(inst.ssh)) return inst.ssh;
    } else {
      say(`instance ${inst?.status ?? 'not answering'}; no SSH address yet`);
    }
    if (Date.now() + POLL_MS > deadline)
      throw new BothubError('TIMED_OUT', `${provider.name} instance ${instanceId} did not answer SSH within ${Math.round(timeoutMs / 1000)} s (last: ${last}); it was destroyed`);
    await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
  }
}
