import assert from 'node:assert/strict';
import type { TestDaemon } from './daemon.js';
import { put, sh } from './sandbox.js';

/** Holds 24 MiB of random bytes in memory; on SIGUSR1 writes their sha256 to /root/have (the memory, not a file, is checked). */
const HOLDER = `
import hashlib, os, signal, time
d = os.urandom(24 << 20)
open('/root/want', 'w').write(hashlib.sha256(d).hexdigest())
def report(*_):
    open('/root/have.t', 'w').write(hashlib.sha256(d).hexdigest())
    os.rename('/root/have.t', '/root/have')
signal.signal(signal.SIGUSR1, report)
open('/root/pid', 'w').write(str(os.getpid()))
while True:
    time.sleep(1)
`;

/** Starts the holder in the sandbox, in the background; returns once it holds its bytes. */
export async function startMemoryHolder(t: TestDaemon, name: string): Promise<void> {
  await put(t, name, '/root/holder.py', HOLDER);
  await sh(t, name, 'nohup python3 /root/holder.py >/dev/null 2>&1 & for i in $(seq 300); do test -e /root/pid && exit 0; sleep 0.1; done; exit 1');
}

/** The holder's process (restored, woken, moved) still holds the bytes it drew. */
export async function memoryIntact(t: TestDaemon, name: string): Promise<void> {
  assert.equal(
    await sh(t, name, 'rm -f /root/have; kill -USR1 $(cat /root/pid); for i in $(seq 300); do test -e /root/have && break; sleep 0.1; done; cmp -s /root/have /root/want && echo same'),
    'same\n',
    `${name}'s process holds the same bytes`,
  );
}
