/**
 * At most `size` holders at once; the rest wait in order. A released slot
 * passes straight to the next waiter, so a newcomer never slips in between.
 */
export class Slots {
  private held = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {}

  /** Resolves once a slot is this caller's; rejects with `aborted()` if `signal` aborts first (it then holds none). */
  acquire(signal: AbortSignal | undefined, aborted: () => Error): Promise<void> {
    if (signal?.aborted) return Promise.reject(aborted());
    if (this.held < this.size) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const take = () => {
        signal?.removeEventListener('abort', giveUp);
        resolve();
      };
      const giveUp = () => {
        this.waiting.splice(this.waiting.indexOf(take), 1);
        reject(aborted());
      };
      this.waiting.push(take);
      signal?.addEventListener('abort', giveUp, { once: true });
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held--;
  }
}
