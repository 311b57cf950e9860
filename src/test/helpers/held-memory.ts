import type { TestDaemon } from './daemon.js';
import { put, sh, until } from './sandbox.js';

/**
 * A Python process in a sandbox that holds `mb` MB of random bytes in memory,
 * writes their sha256 to /tmp/sha at start and on SIGUSR1 (its PID in
 * /tmp/hold.pid), and counts ticks in /tmp/ticks: what a restore must bring
 * back is its memory, and that it runs on.
 */
const holdScript = (mb: number) => `
import hashlib, os, signal, time
data = os.urandom(${mb} * 1024 * 1024)
def report(*_):
    with open('/tmp/sha', 'w') as f: f.write(hashlib.sha256(data).hexdigest())
signal.signal(signal.SIGUSR1, report)
with open('/tmp/hold.pid', 'w') as f: f.write(str(os.getpid()))
report()
n = 0
while True:
    n += 1
    # Renamed into place: a reader between open('w') and write() would see an empty file.
    with open('/tmp/ticks.new', 'w') as f: f.write(str(n))
    os.replace('/tmp/ticks.new', '/tmp/ticks')
    time.sleep(0.05)
`;

const readSha = (t: TestDaemon, name: string) =>
  until(`the checksum in ${name}`, async () => (await sh(t, name, 'cat /tmp/sha 2>/dev/null || true')) || undefined, 30_000);

/** Starts the holder in the sandbox; the sha256 of its bytes once it has them. */
export async function startHolding(t: TestDaemon, name: string, mb: number): Promise<string> {
  await put(t, name, '/root/hold.py', holdScript(mb));
  await sh(t, name, 'nohup python3 /root/hold.py > /dev/null 2>&1 &');
  return readSha(t, name);
}

/**
 * The sha256 of the held bytes as the process computes it now (from its memory, after a restore).
 * By its PID file, not `pkill -f`: while its pages stream in, another process reading its
 * /proc/PID/cmdline (which lives in its memory) may see it empty.
 */
export async function heldSha(t: TestDaemon, name: string): Promise<string> {
  await sh(t, name, 'rm -f /tmp/sha; kill -USR1 "$(cat /tmp/hold.pid)"');
  return readSha(t, name);
}

/** The holder's tick counter. */
export const ticks = async (t: TestDaemon, name: string) => Number((await sh(t, name, 'cat /tmp/ticks')).trim() || 0);
