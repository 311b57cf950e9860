import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timeProcess, type ProcessRun } from './processes.js';

const INSTALL = fileURLToPath(new URL('../../scripts/install-podman', import.meta.url));
/** Where scripts/install-criu puts the CRIU bothub uses; podman (through runc) finds `criu` on PATH. */
const CRIU_DIR = '/usr/local/lib/bothub/criu';
const BRIDGE = 'cni-podman0';
export const PODMAN_IMAGE = 'bothub-bench-debian';

/** podman with a configuration and storage of its own, for one benchmark run. */
export interface Podman {
  version: string;
  run(args: string[]): Promise<ProcessRun>;
  close(): Promise<void>;
}

/**
 * Installs podman if missing and sets it up the way this machine needs
 * (cgroup v1 through cgroupfs, runc, events in a file, overlay storage, no
 * rlimits in the OCI spec: setting one is refused here, and bothub sets
 * none) in a temporary directory named by CONTAINERS_CONF and
 * CONTAINERS_STORAGE_CONF, so the user's own podman configuration and images
 * are never touched. Imports `rootfs` as the image the bench runs.
 */
export async function startPodman(rootfs: string, subnet: string): Promise<Podman> {
  execFileSync(INSTALL, { stdio: 'inherit' });
  const dir = await mkdtemp(join(tmpdir(), 'bothub-bench-podman-'));
  const hadBridge = existsSync(`/sys/class/net/${BRIDGE}`);
  await writeFile(
    join(dir, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = []',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'runtime = "runc"',
      'events_logger = "file"',
      `events_logfile_path = "${dir}/events.log"`,
      `tmp_dir = "${dir}/tmp"`,
      '[network]',
      `network_config_dir = "${dir}/networks"`,
      `default_subnet = "${subnet}"`,
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, 'storage.conf'), ['[storage]', 'driver = "overlay"', `runroot = "${dir}/run"`, `graphroot = "${dir}/storage"`, ''].join('\n'));
  const env = {
    ...process.env,
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
    PATH: `${CRIU_DIR}:${process.env.PATH ?? '/usr/bin:/bin'}`,
  };
  const run = (args: string[]) => timeProcess('podman', args, env);
  const close = async () => {
    await run(['rm', '--all', '--force', '--time', '0']);
    await run(['rmi', '--all', '--force']);
    if (!hadBridge && existsSync(`/sys/class/net/${BRIDGE}`)) execFileSync('ip', ['link', 'delete', BRIDGE]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await importRootfs(rootfs, env);
    return { version: (await run(['--version'])).stdout.trim(), run, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** `tar -C rootfs -c . | podman import - IMAGE`: the same files bothub's default image runs. */
function importRootfs(rootfs: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const podman = spawn('podman', ['import', '--quiet', '-', PODMAN_IMAGE], { env, stdio: ['pipe', 'ignore', 'inherit'] });
    tar.stdout.pipe(podman.stdin);
    tar.on('error', reject);
    podman.on('error', reject);
    podman.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`podman import exited ${code}`))));
  });
}
