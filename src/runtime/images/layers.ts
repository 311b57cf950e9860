import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BothubError } from '../../core/index.js';
import type { Host, HostFiles } from '../../hostexec/index.js';
import type { LongOperation } from '../progress.js';
import { partialPath, removeAbandonedPartials } from './partial-dirs.js';

const TAR_EXTRACT = ['--numeric-owner', '--no-same-permissions', '--preserve-permissions', '--no-overwrite-dir', '--xattrs', '--xattrs-include=user.*', '--xattrs-include=security.capability'];
const DIGEST = /^sha256:([a-f0-9]{64})$/;
/** An OCI whiteout's name prefix, and the marker of an opaque directory. */
export const WH = '.wh.';
export const OPAQUE = '.wh..wh..opq';

/** The hex part of a sha256 digest; anything else is refused (it becomes a path). */
export function digestHex(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new BothubError('INVALID_INPUT', `"${digest}" is not a sha256 digest`);
  return m[1]!;
}

export async function sha256File(host: HostFiles, path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(await host.createReadStream(path), hash, { signal });
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Unpacked layers, one directory each, stored once however many images
 * use them. A directory holds its layer's files in overlayfs form (whiteouts
 * as 0/0 character devices, opaque directories marked by an xattr) so that
 * an image's root is its layers stacked as overlay lower directories.
 */
export class LayerStore {
  constructor(
    readonly host: Host,
    readonly dir: string,
  ) {}

  path(id: string): string {
    return join(this.dir, id);
  }

  has(id: string): Promise<boolean> {
    return this.host.exists(this.path(id));
  }

  async init(): Promise<void> {
    await this.host.mkdir(this.dir, { recursive: true });
    await removeAbandonedPartials(this.host, this.dir);
  }

  /** A fresh directory to fill; `commit` makes it a layer under `id` with one rename. */
  async partial(): Promise<string> {
    const p = partialPath(this.dir, 'layer');
    await this.host.mkdir(p, { recursive: true, mode: 0o755 });
    return p;
  }

  async commit(partial: string, id: string): Promise<void> {
    if (await this.has(id)) await this.host.rm(partial, { recursive: true, force: true });
    else await this.host.rename(partial, this.path(id));
  }

  /**
   * Unpacks a layer blob (tar, gzip or zstd) once: the blob is checked against
   * its digest first, so a damaged or substituted download never becomes a layer.
   */
  async unpack(blob: string, digest: string, op: LongOperation = {}): Promise<string> {
    const id = digestHex(digest);
    if (await this.has(id)) return id;
    const actual = await sha256File(this.host, blob, op.signal);
    if (actual !== digest) throw new BothubError('INVALID_INPUT', `layer ${digest} does not match its digest (got ${actual}); pull it again`);
    const work = await this.partial();
    try {
      await this.host.run('tar', ['-xf', blob, '-C', work, ...TAR_EXTRACT], { signal: op.signal });
      await toOverlayWhiteouts(this.host, work, op);
      await this.commit(work, id);
      return id;
    } catch (e) {
      await this.host.rm(work, { recursive: true, force: true });
      throw e;
    }
  }

  async remove(id: string): Promise<void> {
    const doomed = partialPath(this.dir, `rm-${id}`);
    await this.host.rename(this.path(id), doomed).catch(() => undefined);
    await this.host.rm(doomed, { recursive: true, force: true });
  }

  async ids(): Promise<string[]> {
    return (await this.host.readdir(this.dir).catch(() => [])).map((e) => e.name).filter((e) => !e.startsWith('.'));
  }
}

/** Paths under `dir` whose name starts with `.wh.`, deepest first. */
async function whiteouts(host: Host, dir: string, op: LongOperation): Promise<string[]> {
  const found = await host.run('find', [dir, '-name', `${WH}*`, '-print0'], { signal: op.signal });
  return found.stdout
    .split('\0')
    .filter(Boolean)
    .sort((a, b) => b.length - a.length);
}

/** OCI whiteouts to overlayfs ones: `.wh.NAME` → a 0/0 character device NAME; `.wh..wh..opq` → trusted.overlay.opaque=y on its directory. */
export async function toOverlayWhiteouts(host: Host, dir: string, op: LongOperation = {}): Promise<void> {
  for (const wh of await whiteouts(host, dir, op)) {
    const name = basename(wh);
    await host.rm(wh);
    if (name === OPAQUE) {
      await host.run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', dirname(wh)]);
    } else {
      const target = join(dirname(wh), name.slice(WH.length));
      await host.rm(target, { recursive: true, force: true });
      await host.run('mknod', [target, 'c', '0', '0']);
    }
  }
}

/** overlayfs whiteouts back to OCI form (for a layer leaving this host): the inverse of toOverlayWhiteouts. */
export async function toOciWhiteouts(host: Host, dir: string, op: LongOperation = {}): Promise<void> {
  const devices = await host.run('find', [dir, '-type', 'c', '-print0'], { signal: op.signal });
  for (const dev of devices.stdout.split('\0').filter(Boolean)) {
    const st = await host.run('stat', ['-c', '%t:%T', dev]);
    if (st.stdout.trim() !== '0:0') continue;
    await host.rm(dev);
    await host.run('touch', [join(dirname(dev), WH + basename(dev))]);
  }
  // One walk: getfattr --dump prints "# file: PATH" then the attribute, for each directory that has it.
  const dump = await host.run('getfattr', ['-R', '--absolute-names', '-d', '-m', '^trusted\\.overlay\\.opaque$', dir], { allowFailure: true, signal: op.signal });
  let file = '';
  for (const line of dump.stdout.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice('# file: '.length);
    else if (line === 'trusted.overlay.opaque="y"' && file) {
      await host.run('setfattr', ['-x', 'trusted.overlay.opaque', file]);
      await host.run('touch', [join(file, OPAQUE)]);
    }
  }
}
