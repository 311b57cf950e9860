import { mkdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ImageStore } from '../../runtime/index.js';
import type { Db } from '../db/database.js';

/** Stamps of when each layer was last used here (an empty file per layer, its mtime): in the images directory, beside the layers, not in them. */
const USED = '.layer-use';

/**
 * A layer used by an image made whole here for a sandbox a moment ago stays
 * this long: the sandbox's record, which protects it from then on, is written
 * just after the image is made whole.
 */
const JUST_USED_MS = 60_000;

export interface LayerCacheDeps {
  db: Db;
  images: ImageStore;
  /** Bytes of unpacked layers kept here; 0 keeps only what is in use. */
  limitBytes: number;
  /** The layers every daemon can bring back from the store: recorded images' layers whose archive is there. */
  restorable: () => Promise<Set<string>>;
  log: Logger;
  now?: () => number;
}

/**
 * This machine's unpacked image layers (images/.layers) as a cache when the
 * images are in the store: over the limit, the least recently used layers go
 * that the store can give back (their archive is there) and nothing here
 * needs now. Never one a local sandbox stands on (running, paused, cold or
 * stopped: its overlay is those directories), nor any while a pull, import,
 * save, archive or ship is in flight (those hold layers by no record). A
 * layer that went comes back when an image using it is next used here.
 */
export class LayerCache {
  /** Layers are never changed once unpacked: each one's size is measured once. */
  private readonly sizes = new Map<string, number>();
  private trimming?: Promise<number>;
  private again = false;
  /** A removal and a use's look at what is here never interleave (see use()). */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: LayerCacheDeps) {}

  private get usedDir(): string {
    return join(this.deps.images.dir, USED);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /**
   * Marks an image's layers used now and returns those not here: no trim
   * removes one of them between this look and the use (a minute, by which
   * time a new sandbox's record protects them).
   */
  use(ids: readonly string[]): Promise<string[]> {
    return this.exclusive(async () => {
      await mkdir(this.usedDir, { recursive: true });
      const now = new Date((this.deps.now ?? Date.now)());
      const missing: string[] = [];
      for (const id of ids) {
        await writeFile(join(this.usedDir, id), '').then(() => utimes(join(this.usedDir, id), now, now));
        if (!(await this.deps.images.layers.has(id))) missing.push(id);
      }
      return missing;
    });
  }

  /** Whether a layer was used too lately to go. */
  private async justUsed(id: string): Promise<boolean> {
    const use = await this.lastUse(id);
    return use.stamped && (this.deps.now ?? Date.now)() - use.at < JUST_USED_MS;
  }

  /** Removes a layer unless a pull, save or ship began meanwhile (it may read it) or a use came: then the next trim goes on. */
  private removeIdle(id: string): Promise<'removed' | 'kept' | 'stop'> {
    return this.exclusive(async () => {
      if (this.deps.images.busy) return 'stop';
      if (await this.justUsed(id)) return 'kept';
      await this.deps.images.layers.remove(id);
      await rm(join(this.usedDir, id), { force: true });
      return 'removed';
    });
  }

  /** Brings the cache under its limit; returns the layers removed. A trim asked for while one runs runs again after it. */
  trim(): Promise<number> {
    if (this.trimming) {
      this.again = true;
      return this.trimming;
    }
    this.trimming = (async () => {
      let removed = 0;
      do {
        this.again = false;
        removed += await this.trimOnce();
      } while (this.again);
      return removed;
    })().finally(() => (this.trimming = undefined));
    return this.trimming;
  }

  private async sizeOf(id: string): Promise<number> {
    let size = this.sizes.get(id);
    if (size === undefined) {
      const du = await this.deps.images.layers.host.run('du', ['-sb', this.deps.images.layers.path(id)], { allowFailure: true });
      size = Number(du.stdout.split('\t')[0]) || 0;
      this.sizes.set(id, size);
    }
    return size;
  }

  /** When a layer was last used here: its stamp, else when it was unpacked. */
  private async lastUse(id: string): Promise<{ at: number; stamped: boolean }> {
    const stamp = await stat(join(this.usedDir, id)).catch(() => undefined);
    if (stamp) return { at: stamp.mtimeMs, stamped: true };
    return { at: (await stat(this.deps.images.layers.path(id)).catch(() => undefined))?.mtimeMs ?? 0, stamped: false };
  }

  /** The layers local sandboxes stand on, whatever their state. */
  private async inUse(): Promise<Set<string>> {
    const rows = await this.deps.db.selectFrom('sandboxes').select('image').distinct().where('host', '=', 'local').execute();
    const used = new Set<string>();
    for (const { image } of rows) for (const id of (await this.deps.images.here(image))?.layers ?? []) used.add(id);
    return used;
  }

  private async trimOnce(): Promise<number> {
    const { images, limitBytes, log } = this.deps;
    if (images.busy) return 0;
    const ids = await images.layers.ids();
    const restorable = await this.deps.restorable();
    if (!ids.some((id) => restorable.has(id))) return 0; // nothing could go: no need to measure
    let total = 0;
    for (const id of ids) total += await this.sizeOf(id);
    if (total <= limitBytes) return 0;
    const inUse = await this.inUse();
    const candidates: { id: string; at: number }[] = [];
    for (const id of ids) if (!inUse.has(id) && restorable.has(id) && !(await this.justUsed(id))) candidates.push({ id, at: (await this.lastUse(id)).at });
    candidates.sort((a, b) => a.at - b.at);
    let removed = 0;
    for (const { id } of candidates) {
      if (total <= limitBytes) break;
      const size = await this.sizeOf(id);
      const outcome = await this.removeIdle(id);
      if (outcome === 'stop') break;
      if (outcome === 'kept') continue;
      this.sizes.delete(id);
      total -= size;
      removed++;
      log.info({ layer: id, bytes: size }, 'an image layer left the local layer cache (its archive is in the store)');
    }
    if (total > limitBytes) log.info({ bytes: total, limitBytes }, 'the local layer cache is over its limit: the rest is in use or not in the store');
    return removed;
  }
}
