import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { LongOperation } from '../progress.js';
import { sha256File, toOciWhiteouts } from './layers.js';
import { MEDIA, writeLayout, type Descriptor, type OciConfigFile } from './oci-layout.js';
import type { OciStore } from './oci-copy.js';
import type { ImageConfig } from './oci-layout.js';
import { ociArch } from './reference.js';

export interface BuildableImage {
  /** Layer directories in the store, bottom first. */
  layerDirs: string[];
  /** Blobs and diff ids of the first layers, where already known (a pulled base). */
  layerBlobs: Descriptor[];
  diffIds: string[];
  config: ImageConfig;
}

/**
 * One layer as an OCI blob: copied aside, overlay whiteouts turned back into
 * `.wh.` files, tarred (its sha256 is the diff id) and gzipped into the blob store.
 */
async function packLayer(store: OciStore, dir: string, op: LongOperation): Promise<{ desc: Descriptor; diffId: string }> {
  const host = store.layers.host;
  const work = join(store.tmp, `pack-${randomBytes(6).toString('hex')}`);
  await host.mkdir(work, { recursive: true, mode: 0o700 });
  try {
    const copy = join(work, 'layer');
    await store.layers.host.run('cp', ['-a', '--reflink=auto', dir, copy], { signal: op.signal });
    await toOciWhiteouts(store.layers.host, copy, op);
    const tar = join(work, 'layer.tar');
    await store.layers.host.run('tar', ['-C', copy, '--numeric-owner', '--xattrs', '--sort=name', '-cf', tar, '.'], { signal: op.signal });
    const diffId = await sha256File(store.layers.host, tar, op.signal);
    const gz = join(work, 'layer.tar.gz');
    await pipeline(await host.createReadStream(tar), createGzip(), await host.createWriteStream(gz), { signal: op.signal });
    const digest = await sha256File(store.layers.host, gz, op.signal);
    await host.mkdir(join(store.blobs.dir, 'sha256'), { recursive: true });
    if (!(await store.blobs.has(digest))) await host.rename(gz, store.blobs.path(digest));
    return { desc: { mediaType: MEDIA.layerGzip, digest, size: (await host.stat(store.blobs.path(digest))).size }, diffId };
  } finally {
    await host.rm(work, { recursive: true, force: true });
  }
}

/** Makes an OCI manifest for the image in the blob store; layers with known blobs are not packed again. */
export async function buildManifest(store: OciStore, image: BuildableImage, op: LongOperation = {}): Promise<{ manifest: Descriptor; layerBlobs: Descriptor[]; diffIds: string[] }> {
  const layerBlobs: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const [i, dir] of image.layerDirs.entries()) {
    const known = image.layerBlobs[i];
    const diffId = image.diffIds[i];
    if (known && diffId && (await store.blobs.has(known.digest))) {
      layerBlobs.push(known);
      diffIds.push(diffId);
      continue;
    }
    op.onProgress?.({ step: 'pack', message: `layer ${i + 1}/${image.layerDirs.length}`, done: i, total: image.layerDirs.length });
    const packed = await packLayer(store, dir, op);
    layerBlobs.push(packed.desc);
    diffIds.push(packed.diffId);
  }
  const c = image.config;
  const configFile: OciConfigFile = {
    architecture: ociArch(),
    os: 'linux',
    created: new Date().toISOString(),
    config: { Entrypoint: c.entrypoint.length ? c.entrypoint : null, Cmd: c.cmd.length ? c.cmd : null, Env: c.env, WorkingDir: c.workingDir, User: c.user },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const config = await store.blobs.putJson(MEDIA.config, configFile);
  const manifest = await store.blobs.putJson(MEDIA.manifest, { schemaVersion: 2, mediaType: MEDIA.manifest, config, layers: layerBlobs });
  return { manifest, layerBlobs, diffIds };
}

/** Copies a stored manifest out with skopeo: to a registry (`docker://REF`) or an archive (`oci-archive:FILE`). */
export async function copyOut(
  store: OciStore,
  manifest: Descriptor,
  dest: string,
  access: Parameters<OciStore['skopeo']['run']>[1],
  op: LongOperation = {},
): Promise<string> {
  const layout = join(store.tmp, `out-${randomBytes(6).toString('hex')}`);
  try {
    await writeLayout(store.layers.host, layout, manifest, 'image');
    const digestFile = join(layout, 'pushed-digest');
    op.onProgress?.({ step: 'upload' });
    await store.skopeo.run(['copy', '--src-shared-blob-dir', store.blobs.dir, '--digestfile', digestFile, `oci:${layout}:image`, dest], access, {
      signal: op.signal,
      direction: 'dest',
    });
    return (await store.layers.host.readTextFile(digestFile)).trim();
  } finally {
    await store.layers.host.rm(layout, { recursive: true, force: true });
  }
}
