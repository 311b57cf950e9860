import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { BothubError, canSee, notFound, validateName, type Actor } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import type { LongOperation } from '../progress.js';
import { debootstrapDebian, DEBIAN_IMAGE } from './debootstrap.js';
import { extractImageArchive } from './archive.js';

export type ImageSource = 'debootstrap' | 'tarball' | 'docker-archive';

export interface ImageInfo {
  name: string;
  source: ImageSource;
  sizeBytes: number;
  createdAt: string;
  /** Owner's user id; absent for shared images such as the default one. */
  owner?: string | null;
}

const META = 'image.json';
const PARTIAL = '.partial-';

/**
 * Images are read-only root filesystems, one directory each, described by an
 * image.json written last: a directory without it is an unfinished build.
 */
export class ImageStore {
  private building = new Map<string, Promise<ImageInfo>>();

  constructor(
    private readonly host: Host,
    readonly dir: string,
    private readonly debianMirror: string,
  ) {}

  rootfs(name: string): string {
    return join(this.dir, name, 'rootfs');
  }

  /** Removes builds a crash left behind. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const entry of await readdir(this.dir)) {
      if (entry.startsWith(PARTIAL)) await rm(join(this.dir, entry), { recursive: true, force: true });
    }
  }

  async list(): Promise<ImageInfo[]> {
    const entries = await readdir(this.dir).catch(() => [] as string[]);
    const infos = await Promise.all(entries.filter((e) => !e.startsWith('.')).map((e) => this.get(e)));
    return infos.filter((i): i is ImageInfo => !!i).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<ImageInfo | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, name, META), 'utf8')) as ImageInfo;
    } catch {
      return undefined;
    }
  }

  /** An image this actor may use: shared ones and their own. */
  async requireFor(name: string, actor: Actor): Promise<ImageInfo> {
    const info = await this.require(name);
    if (info.owner && !canSee(actor, info.owner)) throw notFound('image', name, 'see `bothub image list`, or import one with `bothub image import PATH --name N`');
    return info;
  }

  async listFor(actor: Actor): Promise<ImageInfo[]> {
    return (await this.list()).filter((i) => !i.owner || canSee(actor, i.owner));
  }

  async require(name: string): Promise<ImageInfo> {
    const info = await this.get(name);
    if (!info)
      throw notFound(
        'image',
        name,
        name === DEBIAN_IMAGE ? 'build it with `bothub image build debian`' : 'see `bothub image list`, or import one with `bothub image import PATH --name N`',
      );
    return info;
  }

  /** The default image, built once on first need; concurrent callers share the build. */
  async ensureDebian(op: LongOperation = {}): Promise<ImageInfo> {
    const existing = await this.get(DEBIAN_IMAGE);
    if (existing) return existing;
    let build = this.building.get(DEBIAN_IMAGE);
    if (!build) {
      build = this.commit(DEBIAN_IMAGE, (rootfs) => debootstrapDebian(this.host, rootfs, this.debianMirror, op).then(() => 'debootstrap' as const)).finally(() =>
        this.building.delete(DEBIAN_IMAGE),
      );
      this.building.set(DEBIAN_IMAGE, build);
    }
    return build;
  }

  /** A Debian image with more packages (tests use one with redis-server). */
  async ensureDebianWith(name: string, packages: readonly string[], op: LongOperation = {}): Promise<ImageInfo> {
    const existing = await this.get(name);
    if (existing) return existing;
    let build = this.building.get(name);
    if (!build) {
      build = this.commit(name, (rootfs) => debootstrapDebian(this.host, rootfs, this.debianMirror, op, packages).then(() => 'debootstrap' as const)).finally(() =>
        this.building.delete(name),
      );
      this.building.set(name, build);
    }
    return build;
  }

  /** Imports a rootfs tarball or a `docker save` archive streamed to us. */
  async importArchive(name: string, body: Readable, op: LongOperation = {}, owner: string | null = null): Promise<ImageInfo> {
    validateName('image', name);
    if ((await this.get(name)) || this.building.has(name))
      throw new BothubError('NAME_TAKEN', `an image named "${name}" already exists; pick another --name or remove it with \`bothub image rm ${name}\``);
    const work = await this.partialDir(name);
    const upload = join(work, 'upload.tar');
    try {
      op.onProgress?.({ step: 'upload' });
      await pipeline(body, createWriteStream(upload), { signal: op.signal });
    } catch (e) {
      await rm(work, { recursive: true, force: true });
      throw e;
    }
    return this.commit(name, (rootfs) => extractImageArchive(this.host, upload, rootfs, op), owner, work);
  }

  async remove(name: string): Promise<void> {
    await this.require(name);
    // Rename first: the image disappears at once, the slow delete follows.
    const doomed = join(this.dir, `${PARTIAL}rm-${name}-${randomBytes(4).toString('hex')}`);
    await rename(join(this.dir, name), doomed);
    await rm(doomed, { recursive: true, force: true });
  }

  private async partialDir(name: string): Promise<string> {
    const work = join(this.dir, `${PARTIAL}${name}-${randomBytes(4).toString('hex')}`);
    await mkdir(join(work, 'rootfs'), { recursive: true });
    return work;
  }

  /** Builds into a partial directory (`fill` says what kind of image it made), then makes it visible with one rename. */
  private async commit(name: string, fill: (rootfs: string) => Promise<ImageSource>, owner: string | null = null, work?: string): Promise<ImageInfo> {
    const dir = work ?? (await this.partialDir(name));
    try {
      const source = await fill(join(dir, 'rootfs'));
      await rm(join(dir, 'upload.tar'), { force: true });
      const du = await this.host.run('du', ['-sb', join(dir, 'rootfs')]);
      const info: ImageInfo = { name, source, sizeBytes: Number(du.stdout.split('\t')[0]), createdAt: new Date().toISOString(), owner };
      await writeFile(join(dir, META), JSON.stringify(info, null, 2));
      await rename(dir, join(this.dir, name));
      return info;
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }
}
