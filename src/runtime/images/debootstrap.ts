import { join } from 'node:path';
import type { Host } from '../../hostexec/index.js';
import type { LongOperation } from '../progress.js';

export const DEBIAN_IMAGE = 'debian';
const SUITE = 'bookworm';
const PACKAGES = ['ca-certificates', 'procps', 'iproute2', 'python3'];

/** Debian 12, debootstrap's minbase variant, plus what agents expect to find. */
export async function debootstrapDebian(host: Host, rootfs: string, mirror: string, op: LongOperation, extraPackages: readonly string[] = []): Promise<void> {
  let phase = 'resolve';
  await host.run('debootstrap', ['--variant=minbase', `--include=${[...PACKAGES, ...extraPackages].join(',')}`, SUITE, rootfs, mirror], {
    signal: op.signal,
    onStdout: (chunk) => {
      for (const line of chunk.split('\n')) {
        const m = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing)\s*(.*)$/.exec(line.trim());
        if (!m) continue;
        phase = m[1]!.toLowerCase();
        op.onProgress?.({ step: `debootstrap:${phase}`, message: m[2] || undefined });
      }
    },
  });
  op.onProgress?.({ step: 'cleanup' });
  // The package cache is dead weight in every sandbox built on the image.
  await host.rm(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
  await host.run('mkdir', ['-p', join(rootfs, 'var/cache/apt/archives/partial'), join(rootfs, '.bothub')]);
}
