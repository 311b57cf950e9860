/**
 * Restores reading a snapshot, by id: its files and chunks stay until every
 * one is read (by a lazy restore: until every page is in), and a delete
 * meanwhile is refused. A delete right after the branches reading it were
 * destroyed waits the moment their page daemons take to notice and let go.
 */
export class SnapshotPins {
  private readonly readers = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  /** Pins the snapshot for one reader; returns the unpin (once is enough; more is harmless). */
  pin(id: string): () => void {
    this.readers.set(id, (this.readers.get(id) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.readers.get(id) ?? 1) - 1;
      if (n) return void this.readers.set(id, n);
      this.readers.delete(id);
      for (const wake of this.waiting.get(id) ?? []) wake();
      this.waiting.delete(id);
    };
  }

  /** Whether the snapshot is still read after waiting up to `ms` for its last reader to let go. */
  async heldAfter(id: string, ms: number): Promise<boolean> {
    if (!this.readers.has(id)) return false;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.waiting.set(id, [...(this.waiting.get(id) ?? []), resolve]);
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    return this.readers.has(id);
  }
}
