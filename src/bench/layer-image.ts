import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LocalHost } from '../hostexec/index.js';
import { makeImage, SpareLayers } from '../runtime/index.js';
import { compareHeader, compareRow, time } from './stats.js';

/** The default disk limit, 10 GiB, as most creates ask for it. */
const DISK_MB = 10 * 1024;

/**
 * The create step that gives a disk-limited sandbox its writable layer: an
 * empty ext4 image made while the caller waits (`mkfs.ext4`, as before
 * spare-layers.ts) against one taken from the spares, interleaved. Each take
 * finds the spare the previous one left made, as creates a few seconds apart do.
 */
export async function benchLayerImage(runs: number): Promise<string[]> {
  const host = new LocalHost();
  const dir = await mkdtemp(join(tmpdir(), 'bothub-layers-'));
  const spares = new SpareLayers(host, join(dir, 'spares'), pino({ level: 'silent' }));
  try {
    await spares.take(join(dir, 'warm.img'), DISK_MB);
    const made: number[] = [];
    const taken: number[] = [];
    for (let i = 0; i < runs; i++) {
      await spares.idle();
      made.push((await time(() => makeImage(host, join(dir, `made-${i}.img`), DISK_MB)))[0]);
      taken.push((await time(() => spares.take(join(dir, `taken-${i}.img`), DISK_MB)))[0]);
      // Not kept: only their making is measured.
      await Promise.all([rm(join(dir, `made-${i}.img`)), rm(join(dir, `taken-${i}.img`))]);
    }
    await spares.idle();
    return [compareHeader('spare', 'mkfs.ext4'), compareRow('writable layer, 10 GiB', taken, made)];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
