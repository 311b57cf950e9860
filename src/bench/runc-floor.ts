import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProcessRun } from './processes.js';

/** Where scripts/install-criu puts the CRIU bothub uses; runc finds `criu` on PATH, as under podman. */
const CRIU_DIR = '/usr/local/lib/bothub/criu';

/**
 * runc and CRIU driven directly, with nothing around them: the floor that
 * both bothub and podman stand on, since both run containers with these
 * same binaries. One bundle on the same rootfs (read-only, no network but
 * its own loopback); each call is one whole runc process. An operation of
 * either system cannot take less than this, so where the floor alone is
 * over half of podman's time, "0.5× podman" cannot be reached with runc.
 */
export interface RuncFloor {
  create(id: string): Promise<ProcessRun>;
  exec(id: string): Promise<ProcessRun>;
  checkpoint(id: string): Promise<ProcessRun>;
  restore(id: string): Promise<ProcessRun>;
  destroy(id: string): Promise<ProcessRun>;
  close(): Promise<void>;
}

export async function startRuncFloor(rootfs: string): Promise<RuncFloor> {
  const dir = await mkdtemp(join(tmpdir(), 'bothub-bench-runc-'));
  const root = join(dir, 'state');
  const bundle = join(dir, 'bundle');
  const env = { ...process.env, PATH: `${CRIU_DIR}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  const made = new Set<string>();
  await mkdir(bundle);
  execFileSync('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
    root: { path: string; readonly: boolean };
    process: { terminal: boolean; args: string[] };
  };
  spec.root = { path: rootfs, readonly: true };
  spec.process.terminal = false;
  spec.process.args = ['sleep', 'infinity'];
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));

  // A detached container keeps the descriptors it was given: with pipes the caller would wait for the container to end.
  const runc = (args: string[]) =>
    new Promise<ProcessRun>((resolve, reject) => {
      const start = performance.now();
      const child = spawn('runc', ['--root', root, ...args], { env, stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve({ ms: performance.now() - start, stdout: '' }) : reject(new Error(`runc ${args.join(' ')} exited ${code}`))));
    });
  const images = (id: string) => join(dir, 'images', id);
  return {
    create: async (id) => {
      made.add(id);
      return runc(['run', '--detach', '--bundle', bundle, id]);
    },
    exec: (id) => runc(['exec', id, 'true']),
    checkpoint: (id) => runc(['checkpoint', '--image-path', images(id), id]),
    restore: (id) => runc(['restore', '--detach', '--image-path', images(id), '--bundle', bundle, id]),
    destroy: async (id) => {
      const run = await runc(['delete', '--force', id]);
      made.delete(id);
      return run;
    },
    close: async () => {
      for (const id of made) await runc(['delete', '--force', id]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
