import { dirname, join, normalize, sep } from 'node:path';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import type { LongOperation } from '../progress.js';
import type { ImageSource } from './image-store.js';

const TAR_EXTRACT = ['--numeric-owner', '--no-same-permissions', '--preserve-permissions', '--no-overwrite-dir'];

/** A path inside the rootfs; anything that would leave it is refused. */
function inside(rootfs: string, member: string): string {
  const p = normalize(join(rootfs, member));
  if (p !== rootfs && !p.startsWith(rootfs + sep)) throw new BothubError('INVALID_INPUT', `the archive names a path outside its root: ${member}`);
  return p;
}

interface DockerManifestEntry {
  Layers: string[];
}

/**
 * Unpacks an uploaded image: a plain rootfs tarball, or a `docker save`
 * archive whose layers are applied in order with their whiteouts.
 */
export async function extractImageArchive(host: Host, archive: string, rootfs: string, op: LongOperation): Promise<ImageSource> {
  const listing = await host.run('tar', ['-tf', archive], { signal: op.signal }).catch((e: Error) => {
    throw new BothubError(
      'INVALID_INPUT',
      `the upload is not a tar archive (${e.message.split(':').pop()?.trim()}); give a rootfs directory, a rootfs tarball or a \`docker save\` archive`,
    );
  });
  const members = listing.stdout.split('\n').filter(Boolean);
  if (!members.includes('manifest.json')) {
    op.onProgress?.({ step: 'extract' });
    await host.run('tar', ['-xf', archive, '-C', rootfs, ...TAR_EXTRACT], { signal: op.signal });
    return 'tarball';
  }

  const work = join(dirname(rootfs), 'docker');
  await host.mkdir(work, { recursive: true });
  await host.run('tar', ['-xf', archive, '-C', work, '--no-same-owner'], { signal: op.signal });
  const manifest = JSON.parse(await host.readTextFile(join(work, 'manifest.json'))) as DockerManifestEntry[];
  const layers = manifest[0]?.Layers;
  if (!layers?.length) throw new BothubError('INVALID_INPUT', 'the docker archive has no layers in its manifest.json; export it again with `docker save IMAGE -o FILE`');
  for (const [i, layer] of layers.entries()) {
    op.onProgress?.({ step: 'layer', message: `${i + 1}/${layers.length}`, done: i, total: layers.length });
    await applyLayer(host, inside(work, layer), rootfs, op);
  }
  await host.rm(work, { recursive: true, force: true });
  return 'docker-archive';
}

/** Applies one layer: opaque directories are emptied first, whiteouts delete. */
async function applyLayer(host: Host, layer: string, rootfs: string, op: LongOperation): Promise<void> {
  const entries = (await host.run('tar', ['-tf', layer], { signal: op.signal })).stdout.split('\n').filter(Boolean);
  for (const e of entries.filter((e) => e.endsWith('/.wh..wh..opq'))) {
    const dir = inside(rootfs, dirname(e));
    await host.rm(dir, { recursive: true, force: true });
    await host.mkdir(dir, { recursive: true });
  }
  await host.run('tar', ['-xf', layer, '-C', rootfs, ...TAR_EXTRACT], { signal: op.signal });
  for (const e of entries) {
    const base = e.split('/').pop() ?? '';
    if (!base.startsWith('.wh.')) continue;
    await host.rm(inside(rootfs, e), { force: true });
    if (base !== '.wh..wh..opq') await host.rm(inside(rootfs, join(dirname(e), base.slice(4))), { recursive: true, force: true });
  }
}
