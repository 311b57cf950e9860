import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import { storeTree, type ChunkStore, type ImageStore, type LongOperation, type PresigningStore, type SnapshotFile } from '../../runtime/index.js';
import type { LayerArchives } from '../services/layer-archives.js';
import { fetchFromStore } from './store-fetch.js';

/** tar of a layer as the store keeps it: owners by number, modes, device nodes (overlay whiteouts) and xattrs (opaque directories). */
export const TAR_KEEP = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls'];
/** The archive's one file, as the host puts it together from the chunks. */
export const ARCHIVE = 'layer.tar';

/**
 * Fills `partial` on `to` with `fill`, then renames it into place as
 * `final` (a copy cut short is never a layer); another ship that landed the
 * layer meanwhile wins, and ours goes.
 */
export async function landLayer(to: Host, partial: string, final: string, fill: () => Promise<void>, op: LongOperation): Promise<void> {
  await to.run('mkdir', ['-p', '--', partial], { signal: op.signal });
  try {
    await fill();
    await to.run('sh', ['-c', 'if [ -e "$1" ]; then rm -rf -- "$0"; else mv -T -- "$0" "$1"; fi', partial, final], { signal: op.signal });
  } catch (e) {
    await to.run('rm', ['-rf', '--', partial]).catch(() => undefined);
    throw e;
  }
}

/**
 * Tars a layer of this machine's image store (entries by name, so the same
 * layer always gives the same bytes and chunks) into a scratch directory
 * there (the image store is the daemon's own, on this machine), and puts the
 * archive into the store as the chunks it lacks.
 */
export async function archiveLayer(images: ImageStore, id: string, store: ChunkStore, pin: (hash: string) => Promise<void>, signal?: AbortSignal): Promise<SnapshotFile> {
  const work = await mkdtemp(join(images.oci.tmp, 'layer-archive-'));
  try {
    await images.layers.host.run('tar', ['-C', images.layers.path(id), '-cf', join(work, ARCHIVE), ...TAR_KEEP, '--sort=name', '.'], { signal });
    return (await storeTree(images.layers.host, work, store, { pin, signal }))[ARCHIVE]!;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface LayerFromStore {
  /** Whether this ship made the archive (and uploaded the chunks the store lacked). */
  archived: boolean;
  /** Bytes the host downloaded from the store. */
  bytes: number;
}

/**
 * Has a fleet host read one layer from the store itself: the layer's archive
 * (made and uploaded once, then remembered) is fetched there through
 * presigned GETs, every chunk and the whole checked against their sha256,
 * and unpacked into `partial`, which the caller renames into place. No byte
 * of the layer passes through the control plane's connection to the host.
 * An archive the store no longer holds whole is forgotten (the next ship
 * makes it again) and the ship fails with one line.
 */
export async function layerFromStore(
  store: PresigningStore,
  archives: LayerArchives,
  images: ImageStore,
  id: string,
  to: Host,
  partial: string,
  op: LongOperation,
): Promise<LayerFromStore> {
  const { archive, made } = await archives.obtain(id, (pin) => archiveLayer(images, id, store, pin, op.signal));
  const fetchDir = `${partial}-archive`;
  let damaged = false;
  try {
    const fetched = await fetchFromStore(store, { name: `layer ${id}`, files: { [ARCHIVE]: archive } }, to, fetchDir, op, {
      log: archives.log,
      damaged: (problem) => {
        damaged = true;
        return new BothubError('RUNTIME_FAILED', `image layer ${id.slice(0, 12)} did not come intact from the store (${problem}); ship it again: its archive is made anew`);
      },
    });
    await to.run('tar', ['-C', partial, '-xf', join(fetchDir, ARCHIVE), '--same-permissions', ...TAR_KEEP], { signal: op.signal });
    return { archived: made, bytes: fetched.bytes };
  } catch (e) {
    if (damaged) await archives.forget([id]).catch((err: unknown) => archives.log.warn({ err }, 'forgetting a damaged layer archive failed'));
    throw e;
  } finally {
    await to.run('rm', ['-rf', '--', fetchDir]).catch(() => undefined);
  }
}
