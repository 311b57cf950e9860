import { basename } from 'node:path';
import type { Staging } from '../../runtime/index.js';
import type { Described } from './snapshot-resume.js';

/** A 'saving' snapshot's staging area lent to a restore: the complete dump, and what its manifest will say. */
export interface StagedCopy {
  dir: string;
  described: Described;
  /** Gives the reference back, exactly once; the last holder out releases the staging area. */
  release: () => Promise<void>;
}

interface Lent {
  staging: Staging;
  described: Described;
  holders: number;
}

/**
 * The staging areas of leave-running snapshots still 'saving'. The dump is
 * complete there the moment the snapshot is answered, so a restore need not
 * wait for the durable copy: it takes a reference and restores from here
 * (a lazy restore keeps it until every page is in). The ingest holds the
 * first reference; the area is released (unmounted and removed) once the
 * ingest and every restore reading it are done, whichever ends last. Once the
 * ingest has ended, either way, no reference is lent any more: a later
 * restore reads the durable copy, or finds the snapshot gone.
 */
export class StagedSnapshots {
  /** Lendable, by snapshot id: the ingest is still running. */
  private readonly lendable = new Map<string, Lent>();
  /** Every area still held by someone, lendable or not. */
  private readonly held = new Set<Lent>();

  /** Makes a staging area whose ingest has begun lendable; returns the ingest's own release, for when it ends (either way). */
  open(snapshotId: string, staging: Staging, described: Described): () => Promise<void> {
    const entry: Lent = { staging, described, holders: 1 };
    this.lendable.set(snapshotId, entry);
    this.held.add(entry);
    const release = this.holder(entry);
    return () => {
      if (this.lendable.get(snapshotId) === entry) this.lendable.delete(snapshotId);
      return release();
    };
  }

  /** A reference on a 'saving' snapshot's staging area; undefined once its ingest has ended (or when it has none here). */
  take(snapshotId: string): StagedCopy | undefined {
    const entry = this.lendable.get(snapshotId);
    if (!entry) return undefined;
    entry.holders++;
    return { dir: entry.staging.dir, described: entry.described, release: this.holder(entry) };
  }

  /** The names of the staging areas still held (`doctor --consistency` must not call them leftovers). */
  names(): string[] {
    return [...this.held].map((e) => basename(e.staging.dir));
  }

  private holder(entry: Lent): () => Promise<void> {
    let released: Promise<void> | undefined;
    return () =>
      (released ??= --entry.holders > 0 ? Promise.resolve() : entry.staging.release().finally(() => this.held.delete(entry)));
  }
}
