import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../api/index.js';
import { parseSubnet } from '../../core/index.js';
import { LocalHost } from '../../hostexec/index.js';
import { removeBridge } from '../../runtime/index.js';
import { claimSubnet } from './claims.js';
import { TEST_IMAGES_DIR } from './daemon.js';
import { freePort } from './free-port.js';

export const BIN = fileURLToPath(new URL('../../../bin/bothub', import.meta.url));

/**
 * The daemon as its own process, as users run it: the benchmark's client and
 * the daemon then do not share one event loop, and it can be killed and
 * started again on the same data dir, as a service manager would.
 */
export interface DaemonProcess {
  api: ApiClient;
  url: string;
  /** The admin's API key, for CLI processes run against it. */
  token: string;
  dataDir: string;
  /** The image store it runs from (the test images, built once). */
  imagesDir: string;
  bridge: string;
  /** The daemon's PID now (it changes at each restart). */
  pid(): number;
  /** SIGKILL: no clean-up of any kind, as a crash or the OOM killer. */
  kill9(): Promise<void>;
  /** Starts it again on the same data dir, port and bridge; resolves when it answers. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface DaemonProcessOptions {
  /** More environment for the daemon (BOTHUB_IDLE_WARM...). */
  env?: Record<string, string>;
  /** Where its stderr and stdout go (appended); default: this process's. */
  logFile?: string;
  /** Arguments for the daemon's node, e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile it under the benchmark. */
  nodeArgs?: string[];
  /** Its port (default: one derived from this process's PID; several daemons of one process need their own). */
  port?: number;
  /** A data dir made beforehand (a master key shared with other daemons in it); default a new temporary one. */
  dataDir?: string;
}

/** The environment a CLI process needs to talk to this daemon as its admin. */
export const cliEnv = (t: DaemonProcess): NodeJS.ProcessEnv => ({ ...process.env, BOTHUB_URL: t.url, BOTHUB_TOKEN: t.token });

export async function startDaemonProcess(opts: DaemonProcessOptions = {}): Promise<DaemonProcess> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'bothub-bench-')));
  // A port and a subnet of its own: one process may run several at once (the benchmark's own daemon and a section's).
  const port = opts.port ?? (await freePort());
  const bridge = `bhb${randomBytes(2).toString('hex')}`;
  const given = opts.env?.BOTHUB_SUBNET;
  const net = given ? { subnet: given, release: () => undefined } : claimSubnet();
  const subnet = net.subnet;
  const env = { ...process.env, BOTHUB_IMAGES_DIR: TEST_IMAGES_DIR, BOTHUB_BRIDGE: bridge, BOTHUB_SUBNET: subnet, BOTHUB_LOG_LEVEL: 'warn', ...opts.env };
  const probe = new ApiClient(`http://127.0.0.1:${port}`);

  let child: ChildProcess;
  const spawnDaemon = async () => {
    const out = opts.logFile ? openSync(opts.logFile, 'a') : 'inherit';
    child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], { env, stdio: ['ignore', out, out] });
    if (typeof out === 'number') closeSync(out);
    // Polled: the daemon says nothing on its own when it is ready.
    for (let i = 0; ; i++) {
      // Its admin key too: a health answer alone can come before the key is written, or from another daemon on this port.
      const healthy = await probe.call('health').then(
        () => true,
        () => false,
      );
      if (healthy && existsSync(join(dataDir, 'admin.key'))) return;
      if (i > 2400 || child.exitCode !== null) throw new Error(`the daemon did not start (exit code ${child.exitCode})`);
      await sleep(25);
    }
  };
  const url = `http://127.0.0.1:${port}`;
  let token: string;
  try {
    await spawnDaemon();
    token = (await readFile(join(dataDir, 'admin.key'), 'utf8')).trim();
  } catch (e) {
    // A daemon that did not come up is not left running behind the caller.
    child!.kill('SIGKILL');
    throw e;
  }
  const api = new ApiClient(url, { token });
  const exited = () => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r())));
  return {
    api,
    url,
    token,
    dataDir,
    imagesDir: TEST_IMAGES_DIR,
    bridge,
    pid: () => child.pid!,
    async kill9() {
      const gone = exited();
      child.kill('SIGKILL');
      await gone;
    },
    restart: spawnDaemon,
    async stop() {
      try {
        for (const s of await api.call('listSandboxes')) await api.call('destroySandbox', { params: { name: s.name } });
        for (const s of await api.call('listSnapshots', { query: {} })) await api.call('deleteSnapshot', { params: { name: s.name } });
      } finally {
        // A destroy that failed is the caller's to hear of; the daemon, its bridge and data dir go either way.
        const gone = exited();
        child.kill('SIGTERM');
        await gone;
        await removeBridge(new LocalHost(), { name: bridge, subnet: parseSubnet(subnet) });
        net.release();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}
