import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import type { LongOperation } from '../progress.js';
import type { LayerStore } from './layers.js';
import { imageConfigOf, isIndex, layoutManifest, type BlobStore, type Descriptor, type ImageConfig, type OciConfigFile, type OciManifest } from './oci-layout.js';
import { ociArch } from './reference.js';
import type { RegistryAccess, Skopeo } from './skopeo.js';

export interface OciStore {
  skopeo: Skopeo;
  blobs: BlobStore;
  layers: LayerStore;
  /** Where per-copy layouts are made (same filesystem as the blobs). */
  tmp: string;
}

/** An image as the store keeps it: its manifest (in the blob store), its layers (bottom first), its config. */
export interface StoredOciImage {
  manifest: string;
  layers: string[];
  config: ImageConfig;
}

/**
 * The bytes a pull will move, read from the registry first: an index is
 * resolved to this host's platform, as skopeo's copy will. `repo` is host/repository.
 */
async function layerDescriptors(store: OciStore, src: string, repo: string, access: RegistryAccess[], op: LongOperation): Promise<Descriptor[]> {
  const raw = JSON.parse(await store.skopeo.run(['inspect', '--raw', src], access, { signal: op.signal })) as OciManifest;
  if (!isIndex(raw)) return raw.layers ?? [];
  const arch = ociArch();
  const pick = raw.manifests?.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  if (!pick) {
    const have = (raw.manifests ?? []).map((m) => `${m.platform?.os}/${m.platform?.architecture}`).join(', ');
    throw new BothubError('INVALID_INPUT', `the image has no linux/${arch} variant (it has ${have || 'none'}); pick a reference built for this host`);
  }
  const one = JSON.parse(await store.skopeo.run(['inspect', '--raw', `docker://${repo}@${pick.digest}`], access, { signal: op.signal })) as OciManifest;
  return one.layers ?? [];
}

/** Bytes so far: finished layer blobs, and skopeo's files still being written in the layout. */
async function bytesDone(store: OciStore, layout: string, layers: Descriptor[]): Promise<number> {
  const host = store.layers.host;
  let done = 0;
  for (const l of layers) if (await store.blobs.has(l.digest)) done += l.size;
  for (const f of await host.readdir(layout).catch(() => []))
    if (f.name.startsWith('oci-put-blob')) done += await host.stat(join(layout, f.name)).then((s) => s.size, () => 0);
  return done;
}

/**
 * Copies an image (`docker://REF` or `oci-archive:FILE`) into the store with
 * skopeo: blobs land in the shared blob directory, where those already there
 * are skipped (so an interrupted pull resumes), then each layer is checked
 * against its digest and unpacked once.
 */
export async function copyIntoStore(store: OciStore, src: string, access: RegistryAccess[], op: LongOperation = {}, repo?: string): Promise<StoredOciImage> {
  const layout = join(store.tmp, `copy-${randomBytes(6).toString('hex')}`);
  try {
    const expected = repo ? await layerDescriptors(store, src, repo, access, op) : [];
    const total = expected.reduce((n, l) => n + l.size, 0);
    const report = async () => op.onProgress?.({ step: 'download', done: Math.min(total, await bytesDone(store, layout, expected)), total });
    const timer = total ? setInterval(() => void report(), 500) : undefined;
    try {
      await store.skopeo.run(
        ['copy', '--override-arch', ociArch(), '--override-os', 'linux', '--dest-shared-blob-dir', store.blobs.dir, src, `oci:${layout}:image`],
        access,
        { signal: op.signal, direction: 'src' },
      );
    } finally {
      clearInterval(timer);
    }
    if (total) await report();
    const desc = await layoutManifest(store.layers.host, layout);
    return await unpackManifest(store, desc.digest, op);
  } finally {
    await store.layers.host.rm(layout, { recursive: true, force: true });
  }
}

/** Reads a stored manifest and its config, and unpacks its layers. */
export async function unpackManifest(store: OciStore, manifestDigest: string, op: LongOperation = {}): Promise<StoredOciImage> {
  const manifest = await store.blobs.readJson<OciManifest>(manifestDigest);
  if (isIndex(manifest)) throw new BothubError('INVALID_INPUT', 'the archive holds an index of several images; export one platform');
  const config = imageConfigOf(await store.blobs.readJson<OciConfigFile>(manifest.config.digest));
  const layers: string[] = [];
  for (const [i, l] of manifest.layers.entries()) {
    op.onProgress?.({ step: 'unpack', message: `layer ${i + 1}/${manifest.layers.length}`, done: i, total: manifest.layers.length });
    layers.push(await store.layers.unpack(store.blobs.path(l.digest), l.digest, op));
  }
  return { manifest: manifestDigest, layers, config };
}
