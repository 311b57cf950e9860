import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../api/index.js';
import { parseSubnet } from '../core/index.js';
import { LocalHost } from '../hostexec/index.js';
import { removeBridge } from '../runtime/index.js';
import { TEST_IMAGES_DIR } from '../test/helpers/daemon.js';

export const BIN = fileURLToPath(new URL('../../bin/bothub', import.meta.url));

/**
 * The daemon as its own process, as users run it: the benchmark's client and
 * the daemon then do not share one event loop.
 */
export interface DaemonProcess {
  api: ApiClient;
  url: string;
  /** The admin's API key, for CLI processes run against it. */
  token: string;
  dataDir: string;
  /** The image store it runs from (the test images, built once). */
  imagesDir: string;
  stop(): Promise<void>;
}

/** The environment a CLI process needs to talk to this daemon as its admin. */
export const cliEnv = (t: DaemonProcess): NodeJS.ProcessEnv => ({ ...process.env, BOTHUB_URL: t.url, BOTHUB_TOKEN: t.token });

/** `nodeArgs` go to the daemon's node, e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile it under the benchmark. */
export async function startDaemonProcess(nodeArgs: string[] = []): Promise<DaemonProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bothub-bench-'));
  const port = 20000 + (process.pid % 20000);
  const bridge = `bhb${randomBytes(2).toString('hex')}`;
  const subnet = `10.250.${process.pid % 250}.0/24`;
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, BIN, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    env: { ...process.env, BOTHUB_IMAGES_DIR: TEST_IMAGES_DIR, BOTHUB_BRIDGE: bridge, BOTHUB_SUBNET: subnet, BOTHUB_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const probe = new ApiClient(`http://127.0.0.1:${port}`);
  for (let i = 0; ; i++) {
    if (
      await probe.call('health').then(
        () => true,
        () => false,
      )
    )
      break;
    // A minute: on a loaded machine the daemon's own start is slow. A daemon that never answers is not left behind.
    if (i > 1200 || child.exitCode !== null) {
      child.kill('SIGTERM');
      throw new Error('the daemon did not start');
    }
    await sleep(50);
  }
  const url = `http://127.0.0.1:${port}`;
  const token = (await readFile(join(dataDir, 'admin.key'), 'utf8')).trim();
  const api = new ApiClient(url, { token });
  return {
    api,
    url,
    token,
    dataDir,
    imagesDir: TEST_IMAGES_DIR,
    async stop() {
      for (const s of await api.call('listSandboxes')) await api.call('destroySandbox', { params: { name: s.name } });
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await removeBridge(new LocalHost(), { name: bridge, subnet: parseSubnet(subnet) });
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
