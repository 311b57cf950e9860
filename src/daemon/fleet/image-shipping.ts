import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import { pipeBetween, type Host } from '../../hostexec/index.js';
import { DEBIAN_IMAGE, type ImageInfo, type ImageStore, type LongOperation } from '../../runtime/index.js';
import type { SnapshotChunks } from '../services/snapshot-chunks.js';
import type { HostEndpoint } from './host-service.js';
import { landLayer, layerFromStore, TAR_KEEP } from './layer-store-shipping.js';
import { presigningFor } from './store-fetch.js';

export interface ShipResult {
  /** Layers the host lacked and received. */
  shipped: number;
  /** Layers it had already. */
  present: number;
  /** Bytes sent through the control plane's connection to the host. */
  bytes: number;
  /** Of the layers shipped, those the host read from the store itself (BOTHUB_STORE), and their bytes. */
  fromStore: number;
  storeBytes: number;
}

/** The layer ids under `layersDir` on `host` (none if the store is not there yet). */
async function layersThere(host: Host, layersDir: string, signal?: AbortSignal): Promise<Set<string>> {
  const r = await host.run('sh', ['-c', 'ls -1A -- "$0" 2>/dev/null || true', layersDir], { signal });
  return new Set(r.stdout.split('\n').filter((e) => e && !e.startsWith('.')));
}

/** Copies one directory tree between hosts into `partial`, then renames it into place (a copy cut short is never a layer). */
async function copyDir(from: Host, dir: string, to: Host, partial: string, final: string, op: LongOperation, onBytes: (n: number) => void): Promise<void> {
  await landLayer(
    to,
    partial,
    final,
    () =>
      pipeBetween(from, ['tar', ['-C', dir, '-cf', '-', ...TAR_KEEP, '.']], to, ['tar', ['-C', partial, '-xf', '-', '--same-permissions', ...TAR_KEEP]], {
        signal: op.signal,
        onBytes,
      }),
    op,
  );
}

/**
 * Makes the sandbox's image available on a fleet host before a sandbox on it
 * is restored there (a move, a snapshot restored with --host): the layers
 * the host's store lacks are copied (layers are content-addressed: one it
 * has is never sent again), then the image's record. The default image the
 * agent builds itself. An image of that name there with other layers is
 * refused rather than replaced: sandboxes there may stand on it.
 *
 * With `chunks` in S3 (BOTHUB_STORE) and curl on the host, the host reads
 * each missing layer from the store itself through presigned URLs (its
 * archive made and uploaded once, then remembered); otherwise the layer is
 * piped from here over SSH.
 */
export function shipImage(images: ImageStore, name: string, dst: HostEndpoint, op: LongOperation = {}, chunks?: SnapshotChunks): Promise<ShipResult> {
  // Held as a pull is: the layer cache lets none of these layers go while they are read.
  return images.holding(() => shipHeld(images, name, dst, op, chunks));
}

async function shipHeld(images: ImageStore, name: string, dst: HostEndpoint, op: LongOperation, chunks?: SnapshotChunks): Promise<ShipResult> {
  const none = { shipped: 0, present: 0, bytes: 0, fromStore: 0, storeBytes: 0 };
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
  const store = chunks && missing.length ? await presigningFor(chunks.store, { files: {} }, dst.exec, op.signal) : undefined;
  // The store's own progress (its chunk batches) is this step's.
  const asImageStep: LongOperation = { signal: op.signal, onProgress: (p) => op.onProgress?.({ ...p, step: 'image' }) };
  let bytes = 0;
  let storeBytes = 0;
  for (const [i, id] of missing.entries()) {
    const how = store ? 'read from the store by' : 'to';
    op.onProgress?.({ step: 'image', message: `layer ${i + 1} of ${missing.length} of image "${name}" ${how} host "${dst.name}"`, done: i, total: missing.length });
    const partial = join(layersDir, `.partial-ship-${randomBytes(4).toString('hex')}`);
    const fromStoreThere = async () => void (storeBytes += (await layerFromStore(store!, chunks!.layers, images, id, dst.exec, partial, asImageStep)).bytes);
    if (store) await landLayer(dst.exec, partial, join(layersDir, id), fromStoreThere, op);
    else await copyDir(images.layers.host, images.layers.path(id), dst.exec, partial, join(layersDir, id), op, (n) => (bytes += n));
  }
  // The record last, with one rename: an image there is whole or absent.
  const partial = join(storeThere, `.partial-${name}-${randomBytes(4).toString('hex')}`);
  const record: ImageInfo = { ...info, layers };
  await dst.exec.run('mkdir', ['-p', '--', partial], { signal: op.signal });
  await dst.exec.run('sh', ['-c', 'cat > "$0/image.json" && mv -T -- "$0" "$1"', partial, join(storeThere, name)], { input: JSON.stringify(record, null, 2), signal: op.signal });
  const fromStore = store ? missing.length : 0;
  const via = fromStore ? `, read from the store by the host` : '';
  op.onProgress?.({ step: 'image', message: `image "${name}" is on host "${dst.name}" (${missing.length} layer(s) sent, ${layers.length - missing.length} there already${via})`, done: missing.length, total: missing.length });
  return { shipped: missing.length, present: layers.length - missing.length, bytes, fromStore, storeBytes };
}
