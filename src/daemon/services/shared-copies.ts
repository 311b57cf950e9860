import type { LazyPageSource } from '../../runtime/index.js';

/** A snapshot's files put together for restores, and how to let them go. */
export interface Copy {
  dir: string;
  release: () => Promise<void>;
  /** Put together for a lazy restore: the pages images are sparse, and these serve the rest (lazy-page-source.ts). */
  pages?: LazyPageSource;
  /** So little memory that it is restored eagerly even when restores are lazy. */
  eager?: boolean;
}

/**
 * One copy of a snapshot's files shared by every restore reading it at the
 * same time (branches made together; with lazy restores, also a branch made
 * while the previous one's pages still stream in): a gigabyte of memory
 * images is read from the store and checked once, not once per branch. The
 * copy goes when its last reader lets it go.
 */
export class SharedCopies {
  private readonly open = new Map<string, { copy: Promise<Copy>; readers: number }>();

  async take(snapshotId: string, make: () => Promise<Copy>): Promise<Copy> {
    let entry = this.open.get(snapshotId);
    if (!entry) {
      const fresh = { copy: make(), readers: 0 };
      fresh.copy.catch(() => this.open.get(snapshotId) === fresh && this.open.delete(snapshotId));
      this.open.set(snapshotId, fresh);
      entry = fresh;
    }
    const taken = entry;
    taken.readers++;
    let copy: Copy;
    try {
      copy = await taken.copy;
    } catch (e) {
      taken.readers--;
      throw e;
    }
    let released = false;
    return {
      dir: copy.dir,
      pages: copy.pages,
      eager: copy.eager,
      release: async () => {
        if (released) return;
        released = true;
        if (--taken.readers > 0) return;
        if (this.open.get(snapshotId) === taken) this.open.delete(snapshotId);
        await copy.release();
      },
    };
  }
}
