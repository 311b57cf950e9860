import { readFile } from 'node:fs/promises';
import { arch, release } from 'node:os';
import type { HostFingerprint } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import type { Runc } from '../runc.js';
import { criuVersion } from './criu.js';

/** What a snapshot records about the host that wrote it, and a restore compares. */
export async function hostFingerprint(host: Host, runc: Runc, criu: string): Promise<HostFingerprint> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim() ?? '';
  return {
    kernel: release(),
    arch: arch(),
    cpuModel: field('model name'),
    cpuFlags: field('flags').split(/\s+/).filter(Boolean).sort(),
    criuVersion: await criuVersion(host, criu),
    runcVersion: await runc.version(),
  };
}
