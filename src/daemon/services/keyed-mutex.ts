/**
 * Serializes operations on the same key (one sandbox) while letting different
 * keys run in parallel: a stop and a destroy of one sandbox never interleave.
 */
export class KeyedMutex {
  private tails = new Map<string, Promise<unknown>>();

  /** Whether an operation on `key` is running or waiting. */
  held(key: string): boolean {
    return this.tails.has(key);
  }

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.catch(() => undefined).then(work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
