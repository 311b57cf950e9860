import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { BothubError, canSee, notFound, validateName, type Actor } from '../../core/index.js';
import type { Host, SyncFiles } from '../../hostexec/index.js';
import type { LongOperation } from '../progress.js';
import { debootstrapDebian, DEBIAN_IMAGE } from './debootstrap.js';
import { extractImageArchive } from './archive.js';
import { LayerStore } from './layers.js';
import { StampedJsonCache } from './stamped-json.js';
import { BlobStore, type Descriptor, type ImageConfig, type OciConfigFile } from './oci-layout.js';
import { copyIntoStore, type OciStore, type StoredOciImage } from './oci-copy.js';
import { defaultImageName, parseReference } from './reference.js';
import { Skopeo, type RegistryCredentials } from './skopeo.js';
import { buildManifest, copyOut } from './oci-build.js';
import { resolveImageUser } from './image-user.js';
import { partialPath, removeAbandonedPartials } from './partial-dirs.js';
import type { ImageSharing } from './image-sharing.js';

export type ImageSource = 'debootstrap' | 'tarball' | 'docker-archive' | 'registry' | 'oci-archive' | 'saved';

export interface ImageInfo {
  name: string;
  source: ImageSource;
  sizeBytes: number;
  createdAt: string;
  /** Owner's user id; absent for shared images such as the default one. */
  owner?: string | null;
  /** Layered images: their layers in the shared layer store, bottom first. Others have one rootfs directory. */
  layers?: string[];
  /** The OCI manifest (in the shared blob store) the layers came from, for a pulled or imported image. */
  digest?: string;
  /** Where it was pulled from. */
  reference?: string;
  /** What its sandboxes run by default, and how. */
  config?: ImageConfig;
  /** The layers' blobs, where known (pulled ones; built ones once pushed or exported). */
  layerBlobs?: Descriptor[];
  /** The image this one was saved on top of. */
  base?: string;
  /** The layers' uncompressed digests, aligned with layerBlobs. */
  diffIds?: string[];
}

const META = 'image.json';

/** What to do about an image that is not here (or not this user's). */
const seeOrImport = (name: string) => `see \`GET /api/v1/images\`, or import one (\`POST /api/v1/images?name=${name}\` with the tarball as the body)`;

/**
 * Images are read-only root filesystems, one directory each, described by an
 * image.json written last: a directory without it is an unfinished build.
 */
export class ImageStore {
  private building = new Map<string, Promise<ImageInfo>>();
  private readonly infoCache: StampedJsonCache<ImageInfo>;
  private active = 0;
  readonly layers: LayerStore;
  readonly oci: OciStore;

  constructor(
    private readonly host: Host & SyncFiles,
    readonly dir: string,
    private readonly debianMirror: string,
    /** The images every daemon sees (BOTHUB_STORE), made by the daemon after this store; none: this machine's alone. */
    private readonly sharing: () => ImageSharing | undefined = () => undefined,
  ) {
    this.infoCache = new StampedJsonCache<ImageInfo>(host);
    this.layers = new LayerStore(host, join(dir, '.layers'));
    const tmp = join(dir, '.tmp');
    this.oci = { skopeo: new Skopeo(host, tmp), blobs: new BlobStore(host, join(dir, '.blobs')), layers: this.layers, tmp };
  }

  /** The rootfs directory of a single-directory image (debootstrap, tarball, docker archive). */
  rootfs(name: string): string {
    return join(this.dir, name, 'rootfs');
  }

  /** Read synchronously (a sandbox's definition is built without awaiting, on every exec), parsed once per change. */
  infoSync(name: string): ImageInfo | undefined {
    return this.infoCache.read(join(this.dir, name, META));
  }

  /** The overlay lowerdir of a sandbox on this image: its layers, top first, joined by ':'; or its one rootfs. */
  lowerDir(name: string): string {
    const layers = this.infoSync(name)?.layers;
    if (!layers?.length) return this.rootfs(name);
    return [...layers].reverse().map((id) => this.layers.path(id)).join(':');
  }

  /** What the image says its main command runs as, and where (OCI config User and WorkingDir). */
  mainProcessOf(name: string): { cwd?: string; user?: { uid: number; gid: number } } {
    const config = this.infoSync(name)?.config;
    if (!config) return {};
    return { cwd: config.workingDir || undefined, user: resolveImageUser(this.host, config.user, this.lowerDir(name).split(':')) };
  }

  /** Removes builds a crash left behind. */
  async init(): Promise<void> {
    await this.host.mkdir(this.dir, { recursive: true });
    await this.layers.init();
    await this.host.mkdir(this.oci.tmp, { recursive: true, mode: 0o700 });
    // Copies a crash cut short; a day old, so another daemon sharing the directory is never cut short.
    for (const { name: e } of await this.host.readdir(this.oci.tmp)) {
      const at = await this.host.stat(join(this.oci.tmp, e)).then((s) => s.mtimeMs, () => Date.now());
      if (Date.now() - at > 86_400_000) await this.host.rm(join(this.oci.tmp, e), { recursive: true, force: true });
    }
    await removeAbandonedPartials(this.host, this.dir);
  }

  async list(): Promise<ImageInfo[]> {
    const entries = (await this.host.readdir(this.dir).catch(() => [])).filter((e) => !e.name.startsWith('.'));
    const here = (await Promise.all(entries.map((e) => this.here(e.name)))).filter((i): i is ImageInfo => !!i);
    return ((await this.sharing()?.merge(here)) ?? here).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The image.json on this machine, if any. */
  async here(name: string): Promise<ImageInfo | undefined> {
    return this.host.readTextFile(join(this.dir, name, META)).then((text) => JSON.parse(text) as ImageInfo).catch(() => undefined);
  }

  async get(name: string): Promise<ImageInfo | undefined> {
    return this.sharing()?.resolve(name, await this.here(name)) ?? this.here(name);
  }

  /** An image this actor may use: shared ones and their own (`local`: made whole on this machine first, once seen to be theirs). */
  async requireFor(name: string, actor: Actor, local = true): Promise<ImageInfo> {
    const info = await this.require(name, false);
    if (info.owner && !canSee(actor, info.owner)) throw notFound('image', name, seeOrImport(name));
    if (local) await this.sharing()?.materialize(info);
    return info;
  }

  async listFor(actor: Actor): Promise<ImageInfo[]> {
    return (await this.list()).filter((i) => !i.owner || canSee(actor, i.owner));
  }

  /** The image, made whole on this machine unless `local` is false (an inspection, a removal). */
  async require(name: string, local = true): Promise<ImageInfo> {
    const info = await this.get(name);
    if (!info) throw notFound('image', name, name === DEBIAN_IMAGE ? 'build it (`POST /api/v1/images/debian/build`)' : seeOrImport(name));
    if (local) await this.sharing()?.materialize(info);
    return info;
  }

  /** The default image, built once on first need; concurrent callers share the build. */
  ensureDebian(op: LongOperation = {}): Promise<ImageInfo> {
    return this.ensureDebianWith(DEBIAN_IMAGE, [], op);
  }

  /** A Debian image with more packages (tests use one with redis-server). */
  async ensureDebianWith(name: string, packages: readonly string[], op: LongOperation = {}): Promise<ImageInfo> {
    if (await this.get(name)) return this.require(name);
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
    await this.assertFree(name);
    const work = await this.partialDir(name);
    const upload = join(work, 'upload.tar');
    try {
      op.onProgress?.({ step: 'upload' });
      await pipeline(body, await this.host.createWriteStream(upload), { signal: op.signal });
    } catch (e) {
      await this.host.rm(work, { recursive: true, force: true });
      throw e;
    }
    const members = await this.host.run('tar', ['-tf', upload], { signal: op.signal, allowFailure: true });
    if (members.code === 0 && /^(\.\/)?oci-layout$/m.test(members.stdout)) {
      try {
        return await this.holding(async () => this.commitLayered(name, 'oci-archive', await copyIntoStore(this.oci, `oci-archive:${upload}`, [], op), { owner }));
      } finally {
        await this.host.rm(work, { recursive: true, force: true });
      }
    }
    return this.commit(name, (rootfs) => extractImageArchive(this.host, upload, rootfs, op), owner, work);
  }

  /** A single-directory image as a layer: hard links, so it costs no data and outlives the image. */
  private async legacyLayer(info: ImageInfo): Promise<string> {
    const id = `rootfs-${info.name}-${Date.parse(info.createdAt).toString(36)}`;
    if (await this.layers.has(id)) return id;
    const work = await this.layers.partial();
    await this.host.run('cp', ['-al', `${this.rootfs(info.name)}/.`, work]);
    await this.layers.commit(work, id);
    return id;
  }

  /** The layers of an image, bottom first (a single-directory image becomes one layer). */
  async layersOf(info: ImageInfo): Promise<string[]> {
    return info.layers?.length ? info.layers : [await this.legacyLayer(info)];
  }

  /**
   * A new image: `upper` (a sandbox's writable layer, copied by the caller
   * while it is frozen) on top of the base image's layers.
   */
  async save(name: string, base: ImageInfo, fill: (dir: string) => Promise<void>, owner: string | null, op: LongOperation = {}): Promise<ImageInfo> {
    validateName('image', name);
    await this.assertFree(name);
    return this.holding(() => this.saveHeld(name, base, fill, owner, op));
  }

  private async saveHeld(name: string, base: ImageInfo, fill: (dir: string) => Promise<void>, owner: string | null, op: LongOperation): Promise<ImageInfo> {
    const below = await this.layersOf(base);
    const work = await this.layers.partial();
    try {
      op.onProgress?.({ step: 'copy' });
      await fill(work);
    } catch (e) {
      await this.host.rm(work, { recursive: true, force: true });
      throw e;
    }
    const id = `saved-${randomBytes(12).toString('hex')}`;
    await this.layers.commit(work, id);
    const config = base.config ?? { entrypoint: [], cmd: [], env: [], workingDir: '', user: '' };
    return this.commitLayered(
      name,
      'saved',
      { manifest: '', layers: [...below, id], config, layerBlobs: base.layers?.length ? (base.layerBlobs ?? []) : [] },
      { owner, base: base.name, diffIds: base.layers?.length ? (base.diffIds ?? []) : [] },
    );
  }

  /** The image's OCI manifest, built (and remembered) when it has none yet. */
  private async manifestOf(info: ImageInfo, op: LongOperation): Promise<Descriptor> {
    if (info.digest && (await this.oci.blobs.has(info.digest))) {
      const { size } = await this.host.stat(this.oci.blobs.path(info.digest));
      return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: info.digest, size };
    }
    const layers = await this.layersOf(info);
    const built = await buildManifest(
      this.oci,
      {
        layerDirs: layers.map((id) => this.layers.path(id)),
        layerBlobs: info.layerBlobs ?? [],
        diffIds: info.diffIds ?? [],
        config: info.config ?? { entrypoint: [], cmd: [], env: [], workingDir: '', user: '' },
      },
      op,
    );
    const updated: ImageInfo = { ...info, layers, digest: built.manifest.digest, layerBlobs: built.layerBlobs, diffIds: built.diffIds };
    if (info.layers?.length) await this.rewriteInfo(updated);
    return built.manifest;
  }

  private async rewriteInfo(info: ImageInfo): Promise<void> {
    const file = join(this.dir, info.name, META);
    await this.host.writeFile(`${file}.tmp`, JSON.stringify(info, null, 2));
    await this.host.rename(`${file}.tmp`, file);
  }

  /** Pushes the image to REF; returns the manifest digest the registry has. */
  async push(name: string, ref: string, credentials: RegistryCredentials | undefined, op: LongOperation = {}): Promise<{ reference: string; digest: string }> {
    const parsed = parseReference(ref);
    const manifest = await this.manifestOf(await this.require(name), op);
    const digest = await copyOut(this.oci, manifest, `docker://${parsed.full}`, [{ host: parsed.host, credentials }], op);
    return { reference: parsed.full, digest };
  }

  /** Writes the image as an OCI archive to `file`. */
  async exportArchive(name: string, file: string, op: LongOperation = {}): Promise<void> {
    const manifest = await this.manifestOf(await this.require(name), op);
    await copyOut(this.oci, manifest, `oci-archive:${file}`, [], op);
  }

  /**
   * Pulls REF from its registry: layers already in the store are not fetched
   * again (that is also how an interrupted pull resumes).
   */
  async pull(ref: string, opts: { name?: string; credentials?: RegistryCredentials; owner?: string | null }, op: LongOperation = {}): Promise<ImageInfo> {
    const parsed = parseReference(ref);
    const name = validateName('image', opts.name ?? defaultImageName(parsed));
    await this.assertFree(name);
    const access = [{ host: parsed.host, credentials: opts.credentials }];
    const repo = `${parsed.host}/${parsed.repository}`;
    return this.holding(async () => {
      const stored = await copyIntoStore(this.oci, `docker://${parsed.full}`, access, op, repo);
      return this.commitLayered(name, 'registry', stored, { owner: opts.owner ?? null, reference: parsed.full });
    });
  }

  /** Whether pulls, imports, saves or ships (work that holds layers, see holding) are in flight. */
  get busy(): boolean {
    return this.active > 0;
  }

  /** Runs `fn` as work that holds layers no image.json names yet: layer collection and the layer cache wait. */
  async holding<T>(fn: () => Promise<T>): Promise<T> {
    this.active++;
    try {
      return await fn();
    } finally {
      if (--this.active === 0) this.sharing()?.settled();
    }
  }

  private async assertFree(name: string): Promise<void> {
    if ((await this.get(name)) || this.building.has(name))
      throw new BothubError('NAME_TAKEN', `an image named "${name}" already exists; pick another name or remove it (\`DELETE /api/v1/images/${name}\`)`);
  }

  /** Writes a layered image's image.json (its only file: the layers are shared). */
  async commitLayered(name: string, source: ImageSource, stored: StoredOciImage & { layerBlobs?: Descriptor[] }, extra: Partial<ImageInfo>): Promise<ImageInfo> {
    const manifest = stored.manifest ? await this.oci.blobs.readJson<{ layers: Descriptor[] }>(stored.manifest).catch(() => undefined) : undefined;
    let sizeBytes = 0;
    for (const id of stored.layers) sizeBytes += Number((await this.host.run('du', ['-sb', this.layers.path(id)])).stdout.split('\t')[0]);
    const configFile = manifest ? await this.oci.blobs.readJson<OciConfigFile>((manifest as unknown as { config: Descriptor }).config.digest).catch(() => undefined) : undefined;
    const info: ImageInfo = {
      diffIds: configFile?.rootfs?.diff_ids,
      name,
      source,
      sizeBytes,
      createdAt: new Date().toISOString(),
      owner: null,
      ...extra,
      layers: stored.layers,
      digest: stored.manifest || undefined,
      config: stored.config,
      layerBlobs: stored.layerBlobs ?? manifest?.layers,
    };
    const work = partialPath(this.dir, name);
    await this.host.mkdir(work, { recursive: true });
    await this.host.writeFile(join(work, META), JSON.stringify(info, null, 2));
    await this.host.rename(work, join(this.dir, name)).catch(async (e: NodeJS.ErrnoException) => {
      await this.host.rm(work, { recursive: true, force: true });
      if (e.code === 'ENOTEMPTY' || e.code === 'EEXIST') throw new BothubError('NAME_TAKEN', `an image named "${name}" already exists; pick another name`);
      throw e;
    });
    await this.sharing()?.publish(info);
    return info;
  }

  /** Returns the layers it freed: the daemon drops what it keeps for them elsewhere (their archives in the snapshot store). */
  async remove(name: string): Promise<string[]> {
    await this.require(name, false); // then renamed first: the image disappears at once, the slow delete follows
    const doomed = partialPath(this.dir, `rm-${name}`);
    await this.host.rename(join(this.dir, name), doomed);
    await this.host.rm(doomed, { recursive: true, force: true });
    return this.collectLayers();
  }

  /**
   * Frees the layers no image uses (sandboxes and snapshots hold their image
   * by name, and an image in use is never removed), and the blobs no image names; returns the layers freed.
   */
  async collectLayers(): Promise<string[]> {
    const images = await this.list();
    const used = new Set(images.flatMap((i) => i.layers ?? []));
    if (this.active > 0) return []; // a pull or save in flight holds layers and blobs no image.json names yet
    const freed = (await this.layers.ids()).filter((id) => !used.has(id));
    for (const id of freed) await this.layers.remove(id);
    const blobs = new Set<string>();
    for (const i of images) {
      if (!i.digest) continue;
      blobs.add(i.digest);
      for (const b of i.layerBlobs ?? []) blobs.add(b.digest);
      const m = await this.oci.blobs.readJson<{ config?: Descriptor }>(i.digest).catch(() => undefined);
      if (m?.config) blobs.add(m.config.digest);
    }
    const dir = join(this.oci.blobs.dir, 'sha256');
    for (const { name: f } of await this.host.readdir(dir).catch(() => [])) if (!blobs.has(`sha256:${f}`)) await this.host.rm(join(dir, f), { force: true });
    return freed;
  }

  private async partialDir(name: string): Promise<string> {
    const work = partialPath(this.dir, name);
    await this.host.mkdir(join(work, 'rootfs'), { recursive: true });
    return work;
  }

  /** Builds into a partial directory (`fill` says what kind of image it made), then makes it visible with one rename. */
  private async commit(name: string, fill: (rootfs: string) => Promise<ImageSource>, owner: string | null = null, work?: string): Promise<ImageInfo> {
    const dir = work ?? (await this.partialDir(name));
    let info: ImageInfo;
    try {
      const source = await fill(join(dir, 'rootfs'));
      await this.host.rm(join(dir, 'upload.tar'), { force: true });
      const du = await this.host.run('du', ['-sb', join(dir, 'rootfs')]);
      info = { name, source, sizeBytes: Number(du.stdout.split('\t')[0]), createdAt: new Date().toISOString(), owner };
      await this.host.writeFile(join(dir, META), JSON.stringify(info, null, 2));
      await this.host.rename(dir, join(this.dir, name));
    } catch (e) {
      await this.host.rm(dir, { recursive: true, force: true });
      throw e;
    }
    await this.sharing()?.publish(info);
    return info;
  }
}
