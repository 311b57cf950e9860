import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BothubError, type Actor } from '../../core/index.js';
import { DEBIAN_IMAGE, materializeTree, sha256File, type ChunkStore, type ImageInfo, type ImageSharing, type ImageStore, type LongOperation, type S3Location } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import { LayerCache } from '../services/layer-cache.js';
import type { LayerArchives } from '../services/layer-archives.js';
import type { SnapshotChunks } from '../services/snapshot-chunks.js';
import type { HostEndpoint } from './host-service.js';
import { shipImage } from './image-shipping.js';
import { ARCHIVE, archiveLayer, TAR_KEEP } from './layer-store-shipping.js';

/**
 * A file in an image's directory: this copy is of an image recorded for the
 * store it names (published or made whole here), so without its record there
 * it was removed. Another store's mark (the store changed) is a local image's.
 */
const SHARED_MARK = '.shared';

export interface SharedImagesDeps {
  db: Db;
  images: ImageStore;
  archives: LayerArchives;
  store: ChunkStore;
  /** The store's location (endpoint, bucket, prefix): what the images recorded in this database belong to. */
  storeId: string;
  /** The size limit of the unpacked layers here, bytes. */
  layerCacheBytes: number;
  log: Logger;
}

/**
 * Images every daemon on the database sees, when the store is S3
 * (BOTHUB_STORE): an image made here (pulled, imported, saved, built) has
 * each layer archived into the store (the archives fleet hosts read, see
 * layer-archives.ts), then its description recorded in shared_images. A
 * daemon asked to use an image it lacks, or whose layers its cache let go,
 * unpacks them from the store as a fleet host would. Images made before the
 * store was set stay this machine's own.
 */
export class SharedImages implements ImageSharing {
  readonly cache: LayerCache;
  /** Images and layers being made whole here: two requests at once do it once. */
  private readonly materializing = new Map<string, Promise<void>>();
  private readonly fetching = new Map<string, Promise<void>>();

  constructor(private readonly deps: SharedImagesDeps) {
    this.cache = new LayerCache({ db: deps.db, images: deps.images, limitBytes: deps.layerCacheBytes, restorable: () => this.restorable(), log: deps.log });
  }

  private marked(name: string): Promise<boolean> {
    return readFile(join(this.deps.images.dir, name, SHARED_MARK), 'utf8').then(
      (text) => text === this.deps.storeId,
      () => false,
    );
  }

  /** The images recorded now (not removed). */
  private async recorded(name?: string): Promise<ImageInfo[]> {
    let q = this.deps.db.selectFrom('shared_images').select('info_json').where('removed_at', 'is', null);
    if (name !== undefined) q = q.where('name', '=', name);
    return (await q.execute()).map((r) => JSON.parse(r.info_json) as ImageInfo);
  }

  /**
   * Whether a copy here still is the recorded image: a copy made before the
   * store, or that this database never knew (a new database on the same
   * store), is this machine's own; one whose image was removed, or whose name
   * was since used again, is gone.
   */
  private async stillRecorded(here: ImageInfo, rows?: Map<string, { created_at: string; removed_at: string | null }>): Promise<boolean> {
    if (!(await this.marked(here.name))) return true;
    const row = rows ? rows.get(here.name) : await this.deps.db.selectFrom('shared_images').select(['created_at', 'removed_at']).where('name', '=', here.name).executeTakeFirst();
    return !row || (row.removed_at === null && row.created_at === here.createdAt);
  }

  /** Every layer a recorded image uses. */
  async recordedLayers(): Promise<Set<string>> {
    return new Set((await this.recorded()).flatMap((i) => i.layers ?? []));
  }

  /** Recorded images' layers whose archive is in the store: what this machine may let go. */
  private async restorable(): Promise<Set<string>> {
    const layers = await this.recordedLayers();
    const archived = (await this.deps.db.selectFrom('layer_archives').select('layer_id').execute()).map((r) => r.layer_id);
    return new Set(archived.filter((id) => layers.has(id)));
  }

  async publish(info: ImageInfo): Promise<void> {
    const { images, archives, store, db, log } = this.deps;
    try {
      await images.holding(async () => {
        const layers = await images.layersOf(info);
        for (const id of layers) await archives.obtain(id, (pin) => archiveLayer(images, id, store, pin));
        await store.flush();
        const record: ImageInfo = { ...info, layers };
        const inserted = await db.transaction().execute(async (trx) => {
          const archived = await trx.selectFrom('layer_archives').select('layer_id').where('layer_id', 'in', layers).execute();
          if (archived.length !== new Set(layers).size)
            throw new BothubError('RUNTIME_FAILED', `a layer archive of image "${info.name}" was removed while it was being recorded; make the image again`);
          const row = { name: info.name, owner: info.owner ?? null, info_json: JSON.stringify(record), created_at: info.createdAt, removed_at: null };
          // The name of a removed image is free again; a recorded one's is not.
          const r = await trx
            .insertInto('shared_images')
            .values(row)
            .onConflict((oc) => oc.column('name').doUpdateSet(row).where('shared_images.removed_at', 'is not', null))
            .executeTakeFirst();
          return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
        });
        if (!inserted) throw new BothubError('NAME_TAKEN', `an image named "${info.name}" was made through another daemon meanwhile; pick another name`);
        await writeFile(join(images.dir, info.name, SHARED_MARK), this.deps.storeId);
      });
    } catch (e) {
      // Not recorded, not here: the user makes it again. Archives made for it alone go with it.
      const freed = await images.remove(info.name).catch(() => []);
      await this.forgetUnused(freed);
      throw e;
    }
    log.info({ image: info.name, layers: info.layers?.length ?? 1 }, 'an image was recorded for every daemon, its layers archived into the store');
    this.trimLater();
  }

  async resolve(name: string, here: ImageInfo | undefined): Promise<ImageInfo | undefined> {
    if (here && (await this.stillRecorded(here))) return here;
    if (here) await this.dropStale(name);
    return (await this.recorded(name))[0];
  }

  async merge(here: ImageInfo[]): Promise<ImageInfo[]> {
    const rows = await this.deps.db.selectFrom('shared_images').select(['name', 'info_json', 'created_at', 'removed_at']).execute();
    const byName = new Map(rows.filter((r) => r.removed_at === null).map((r) => [r.name, JSON.parse(r.info_json) as ImageInfo]));
    const known = new Map(rows.map((r) => [r.name, r]));
    for (const i of here) {
      if (await this.stillRecorded(i, known)) byName.set(i.name, i);
      else await this.dropStale(i.name);
    }
    return [...byName.values()];
  }

  /** Removes the image's directory here (renamed first: it disappears at once); false if there was none. */
  private async dropHere(name: string): Promise<boolean> {
    const doomed = join(this.deps.images.dir, `.partial-${process.pid}-rm-${name}-${randomBytes(4).toString('hex')}`);
    if (!(await rename(join(this.deps.images.dir, name), doomed).then(() => true, () => false))) return false;
    await rm(doomed, { recursive: true, force: true });
    return true;
  }

  /** A copy here of an image removed through another daemon (or replaced by another of its name): it goes, and its layers nothing else here uses. */
  private async dropStale(name: string): Promise<void> {
    if (await this.dropHere(name)) {
      this.deps.log.info({ image: name }, 'an image removed through another daemon left this machine too');
      // Its layers that nothing else here uses (their archives went with the record).
      void this.deps.images.collectLayers().catch((err: unknown) => this.deps.log.warn({ err }, 'collecting the layers of an image removed elsewhere failed'));
    }
  }

  materialize(info: ImageInfo, op: LongOperation = {}): Promise<void> {
    let running = this.materializing.get(info.name);
    if (!running) {
      running = this.materializeOnce(info, op).finally(() => this.materializing.delete(info.name));
      this.materializing.set(info.name, running);
    }
    return running;
  }

  private async materializeOnce(info: ImageInfo, op: LongOperation): Promise<void> {
    const { images, log } = this.deps;
    const here = await images.here(info.name);
    if (here && !here.layers?.length) return; // one root directory, made here before the store
    const layers = (here ?? info).layers ?? [];
    const missing = await this.cache.use(layers);
    if (missing.length || !here) {
      await images.holding(async () => {
        for (const [i, id] of missing.entries()) {
          op.onProgress?.({ step: 'image', message: `layer ${i + 1} of ${missing.length} of image "${info.name}" from the store`, done: i, total: missing.length });
          await this.fetchLayer(id, op);
        }
        if (!here) await this.writeRecord(info);
      });
      log.info({ image: info.name, layers: missing.length }, 'an image was made whole here from the store');
    }
    this.trimLater();
  }

  /** image.json (and the mark) with one rename: an image here is whole or absent. */
  private async writeRecord(info: ImageInfo): Promise<void> {
    const dir = this.deps.images.dir;
    const work = join(dir, `.partial-${process.pid}-${info.name}-${randomBytes(4).toString('hex')}`);
    await mkdir(work, { recursive: true });
    await writeFile(join(work, 'image.json'), JSON.stringify(info, null, 2));
    await writeFile(join(work, SHARED_MARK), this.deps.storeId);
    await rename(work, join(dir, info.name)).catch(async (e: NodeJS.ErrnoException) => {
      await rm(work, { recursive: true, force: true });
      // Made whole by another request meanwhile (or made here): that one stays.
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    });
  }

  private fetchLayer(id: string, op: LongOperation): Promise<void> {
    let running = this.fetching.get(id);
    if (!running) {
      running = this.fetchLayerOnce(id, op).finally(() => this.fetching.delete(id));
      this.fetching.set(id, running);
    }
    return running;
  }

  /**
   * One layer from its archive in the store, as a fleet host has it (layer-store-shipping.ts):
   * every chunk checked against its name and the whole against its sha256, then unpacked with
   * owners, modes, device nodes (whiteouts) and xattrs (opaque directories) into a partial
   * directory renamed into place.
   */
  private async fetchLayerOnce(id: string, op: LongOperation): Promise<void> {
    const { images, archives, store } = this.deps;
    const short = id.slice(0, 12);
    const archive = await archives.find(id);
    if (!archive) throw new BothubError('INVALID_STATE', `image layer ${short} is not in the store any more; remove the image and make it again`);
    const work = await mkdtemp(join(images.oci.tmp, 'layer-fetch-'));
    const damaged = (problem: string) => new BothubError('RUNTIME_FAILED', `image layer ${short} did not come intact from the store (${problem}); try again`);
    let partial: string | undefined;
    try {
      await materializeTree(images.layers.host, { [ARCHIVE]: archive }, work, store, work, { signal: op.signal, damaged });
      const sum = await sha256File(images.layers.host, join(work, ARCHIVE), op.signal);
      if (sum !== `sha256:${archive.sha256}`) throw damaged(`its sha256 is ${sum}, not the recorded ${archive.sha256}`);
      partial = await images.layers.partial();
      await images.layers.host.run('tar', ['-C', partial, '-xf', join(work, ARCHIVE), '--same-permissions', ...TAR_KEEP], { signal: op.signal });
      await images.layers.commit(partial, id);
      partial = undefined;
    } finally {
      await rm(work, { recursive: true, force: true });
      if (partial) await rm(partial, { recursive: true, force: true });
    }
  }

  /**
   * Removes the image for every daemon: its record, its copy here, and the
   * archives of layers no recorded image and nothing here uses any more.
   * (Other daemons' copies go when they next look.)
   */
  async remove(name: string): Promise<void> {
    const { db, images } = this.deps;
    const [record] = await this.recorded(name);
    await db.updateTable('shared_images').set({ removed_at: new Date().toISOString() }).where('name', '=', name).where('removed_at', 'is', null).execute();
    const freed = (await this.dropHere(name)) ? await images.collectLayers() : [];
    await this.forgetUnused([...(record?.layers ?? []), ...freed]);
  }

  /** Forgets the archives of these layers that no recorded image and no image here uses. */
  private async forgetUnused(layers: string[]): Promise<void> {
    const kept = await this.recordedLayers();
    for (const id of await this.deps.images.layers.ids()) kept.add(id);
    await this.deps.archives.forget([...new Set(layers)].filter((id) => !kept.has(id)));
  }

  /** The cache's trim, off the request's path: a failure there is logged, never the request's. */
  settled(): void {
    this.trimLater();
  }

  private trimLater(): void {
    void this.cache.trim().catch((err: unknown) => this.deps.log.warn({ err }, 'trimming the local layer cache failed'));
  }
}

/** What an image's mark names: the store (endpoint, bucket, prefix) its record belongs to. */
export const storeIdOf = (store: S3Location & { env: Record<string, string> }): string => `${store.env.AWS_ENDPOINT_URL ?? 'aws'} s3://${store.bucket}/${store.prefix}`;


/**
 * For a new sandbox on a fleet host: with images in the store its image goes
 * there as a move's does (layers the host lacks read from the store by the
 * host), once the actor is seen to may use it. Without a store the host must
 * have the image, as before. (`chunks`: the snapshot store, made after the fleet.)
 */
export function imageBringer(images: ImageStore, shared: () => SharedImages | undefined, chunks: () => SnapshotChunks): (image: string, to: HostEndpoint, actor: Actor) => Promise<void> {
  return async (image, to, actor) => {
    if (!shared() || image === DEBIAN_IMAGE) return;
    await images.requireFor(image, actor);
    await shipImage(images, image, to, {}, chunks());
  };
}
