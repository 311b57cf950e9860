import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import type { DocumentStore } from '../../runtime/index.js';
import type { Db } from '../db/database.js';

/** Where a snapshot's manifest is kept in the store, under BOTHUB_STORE's prefix. */
export const snapshotManifestKey = (snapshotId: string) => `manifests/${snapshotId}.json`;
/** Where a cold image's chunk list (cold.json) is kept in the store. */
export const coldManifestKey = (sandboxId: string) => `cold/${sandboxId}.json`;

export const snapshotSubject = (name: string): Subject => ({ what: `snapshot "${name}"`, fix: `it cannot be restored — delete it (\`DELETE /api/v1/snapshots/${name}\`)` });

const KEYED = /^(manifests|cold)\/([0-9a-f]{12})\.json$/;

/** A manifest put in the store, not yet recorded: what record() writes in the transaction that makes it complete. */
export interface Uploaded {
  key: string;
  sha256: string;
  size: number;
}

/** How a manifest fetched from the store is named in an error, and what to do about it. */
export interface Subject {
  what: string;
  fix: string;
}

/**
 * Manifests kept as objects beside the chunks (BOTHUB_STORE), so that a
 * daemon on a fresh data dir, on the same database and store, restores
 * every snapshot and wakes every cold sandbox. An object is put after the
 * chunks it names are durable and before the transaction that makes its
 * snapshot complete, which also records the sha256 of its bytes: a fetched
 * manifest is checked against the database, so a damaged or swapped object
 * fails with one line instead of restoring something else. The data dir's
 * copy is a cache, filled again from the store when it is missing.
 */
export class StoredManifests {
  constructor(
    private readonly db: Db,
    readonly documents: DocumentStore,
    private readonly log: Logger,
  ) {}

  /** Puts a manifest in the store; durable when it resolves. */
  async upload(key: string, manifest: unknown): Promise<Uploaded> {
    const bytes = Buffer.from(JSON.stringify(manifest));
    await this.documents.put(key, bytes);
    return { key, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
  }

  /** Inside the caller's transaction: the object to fetch for this key from now on (a cold image taken again replaces its last one). */
  async record(trx: Db, up: Uploaded): Promise<void> {
    await trx.deleteFrom('stored_manifests').where('key', '=', up.key).execute();
    await trx.insertInto('stored_manifests').values(up).execute();
  }

  /** Inside the caller's transaction; the object goes after the commit (remove()). */
  async forget(trx: Db, key: string): Promise<void> {
    await trx.deleteFrom('stored_manifests').where('key', '=', key).execute();
  }

  async recorded(key: string): Promise<boolean> {
    return (await this.db.selectFrom('stored_manifests').select('key').where('key', '=', key).executeTakeFirst()) !== undefined;
  }

  /** Deletes an object no record names any more; one the store does not answer for now is swept at the next start. */
  async remove(key: string): Promise<void> {
    await this.documents.delete(key).catch((err: unknown) => this.log.warn({ err, key }, 'a manifest object could not be deleted now; the next start sweeps it'));
  }

  /** Whether the store holds the object a record names (`doctor --consistency`). */
  async present(key: string): Promise<boolean> {
    return this.documents.has(key);
  }

  /**
   * The manifest from the store, checked against the sha256 recorded for it,
   * and kept at `localPath` (written aside, then renamed) so that later reads
   * are local. Undefined when no record names one (a snapshot from before).
   */
  async fetch(key: string, localPath: string, subject: Subject): Promise<Buffer | undefined> {
    const row = await this.db.selectFrom('stored_manifests').selectAll().where('key', '=', key).executeTakeFirst();
    if (!row) return undefined;
    const where = `${this.documents.location}/${key}`;
    const bytes = await this.documents.get(key).catch((e: Error) => {
      throw new BothubError('UNAVAILABLE', `${subject.what}: its manifest could not be read from ${where} (${e.message}); check the store and try again`);
    });
    const problem = !bytes ? `its manifest ${where} is missing` : createHash('sha256').update(bytes).digest('hex') !== row.sha256 ? `its manifest ${where} does not match the checksum recorded for it` : undefined;
    if (problem || !bytes) throw new BothubError('INVALID_STATE', `${subject.what} is damaged (${problem}); ${subject.fix}`);
    await mkdir(dirname(localPath), { recursive: true, mode: 0o700 });
    const aside = `${localPath}.fetched`;
    try {
      await writeFile(aside, bytes, { mode: 0o600 });
      await rename(aside, localPath);
    } finally {
      await rm(aside, { force: true });
    }
    return bytes;
  }

  /**
   * At start: objects whose snapshot or sandbox has no record at all (a
   * crash after a delete's commit, before its object went; or after an
   * upload, before the snapshot was recorded complete, which then forgot it).
   * A snapshot being written has its 'saving' record before its object is
   * put, so no object another daemon is writing is taken.
   */
  async sweep(): Promise<number> {
    let swept = 0;
    for (const dir of ['manifests/', 'cold/']) {
      for await (const key of this.documents.list(dir)) {
        const m = KEYED.exec(key);
        if (!m || (await this.recorded(key))) continue;
        const id = m[2]!;
        const owner =
          m[1] === 'manifests'
            ? await this.db.selectFrom('snapshots').select('id').where('id', '=', id).executeTakeFirst()
            : await this.db.selectFrom('sandboxes').select('id').where('id', '=', id).executeTakeFirst();
        if (owner) continue;
        await this.documents.delete(key);
        swept++;
      }
    }
    if (swept) this.log.info({ swept }, 'manifest objects nothing records were deleted from the store');
    return swept;
  }

  /** A manifest kept at `localPath`, else fetched from the store (and kept there); undefined when neither has it. */
  async read(key: string, localPath: string, subject: Subject): Promise<Buffer | undefined> {
    const local = await readFile(localPath).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    return local ?? this.fetch(key, localPath, subject);
  }
}
