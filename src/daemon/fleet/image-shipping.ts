import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import { pipeBetween, type Host } from '../../hostexec/index.js';
import { DEBIAN_IMAGE, type ImageInfo, type ImageStore, type LongOperation } from '../../runtime/index.js';
import type { HostEndpoint } from './host-service.js';

/** tar of a layer as the store keeps it: owners by number, modes, device nodes (overlay whiteouts) and xattrs (opaque directories). */
const TAR_KEEP = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls'];

export interface ShipResult {
  /** Layers the host lacked and received. */
  shipped: number;
  /** Layers it had already. */
  present: number;
  bytes: number;
}

/** The layer ids under `layersDir` on `host` (none if the store is not there yet). */
async function layersThere(host: Host, layersDir: string, signal?: AbortSignal): Promise<Set<string>> {
  const r = await host.run('sh', ['-c', 'ls -1A -- "$0" 2>/dev/null || true', layersDir], { signal });
  return new Set(r.stdout.split('\n').filter((e) => e && !e.startsWith('.')));
}

/** Copies one directory tree between hosts into `partial`, then renames it into place (a copy cut short is never a layer). */
async function copyDir(from: Host, dir: string, to: Host, partial: string, final: string, op: LongOperation, onBytes: (n: number) => void): Promise<void> {
  await to.run('mkdir', ['-p', '--', partial], { signal: op.signal });
  try {
    await pipeBetween(from, ['tar', ['-C', dir, '-cf', '-', ...TAR_KEEP, '.']], to, ['tar', ['-C', partial, '-xf', '-', '--same-permissions', ...TAR_KEEP]], {
      signal: op.signal,
      onBytes,
    });
    // Another move may have shipped it meanwhile: theirs stays.
    await to.run('sh', ['-c', 'if [ -e "$1" ]; then rm -rf -- "$0"; else mv -T -- "$0" "$1"; fi', partial, final], { signal: op.signal });
  } catch (e) {
    await to.run('rm', ['-rf', '--', partial]).catch(() => undefined);
    throw e;
  }
}

/**
 * Makes the sandbox's image available on a fleet host before a sandbox on it
 * is restored there (a move, a snapshot restored with --host): the layers
 * the host's store lacks are copied (layers are content-addressed: one it
 * has is never sent again), then the image's record. The default image the
 * agent builds itself. An image of that name there with other layers is
 * refused rather than replaced: sandboxes there may stand on it.
 */
export async function shipImage(images: ImageStore, name: string, dst: HostEndpoint, op: LongOperation = {}): Promise<ShipResult> {
  const none = { shipped: 0, present: 0, bytes: 0 };
  if (!dst.agent || name === DEBIAN_IMAGE) return none;
  const info = await images.require(name);
  const storeThere = join(dst.dataDir, 'images');
  const recordThere = join(storeThere, name, 'image.json');
  const existing = await dst.exec.run('cat', ['--', recordThere], { allowFailure: true, signal: op.signal });
  if (existing.code === 0) {
    const there = JSON.parse(existing.stdout) as ImageInfo;
    // An image from before layers (one root directory) is the same one where its record is: same origin, same making.
    const sameLegacy = !info.layers?.length && !there.layers?.length && there.source === info.source && there.createdAt === info.createdAt;
    if (sameLegacy) return { ...none, present: 1 };
    if (info.layers?.length && JSON.stringify(there.layers ?? []) === JSON.stringify(info.layers)) return { ...none, present: info.layers.length };
    throw new BothubError('INVALID_STATE', `host "${dst.name}" has another image named "${name}"; remove it there, or use a sandbox whose image has another name`);
  }

  const layers = await images.layersOf(info);
  const layersDir = join(storeThere, '.layers');
  const have = await layersThere(dst.exec, layersDir, op.signal);
  const missing = layers.filter((id) => !have.has(id));
  let bytes = 0;
  for (const [i, id] of missing.entries()) {
    op.onProgress?.({ step: 'image', message: `layer ${i + 1} of ${missing.length} of image "${name}" to host "${dst.name}"`, done: i, total: missing.length });
    await copyDir(images.layers.host, images.layers.path(id), dst.exec, join(layersDir, `.partial-ship-${randomBytes(4).toString('hex')}`), join(layersDir, id), op, (n) => (bytes += n));
  }
  // The record last, with one rename: an image there is whole or absent.
  const partial = join(storeThere, `.partial-${name}-${randomBytes(4).toString('hex')}`);
  const record: ImageInfo = { ...info, layers };
  await dst.exec.run('mkdir', ['-p', '--', partial], { signal: op.signal });
  await dst.exec.run('sh', ['-c', 'cat > "$0/image.json" && mv -T -- "$0" "$1"', partial, join(storeThere, name)], { input: JSON.stringify(record, null, 2), signal: op.signal });
  op.onProgress?.({ step: 'image', message: `image "${name}" is on host "${dst.name}" (${missing.length} layer(s) sent, ${layers.length - missing.length} there already)`, done: missing.length, total: missing.length });
  return { shipped: missing.length, present: layers.length - missing.length, bytes };
}
