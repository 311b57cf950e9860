// Local only: a synchronous cache keyed by inode, for the image records of this process's own store (Host calls are async and have no inode).
import { readFileSync, statSync } from 'node:fs';

/**
 * JSON files read synchronously on a hot path (an image's record, on every
 * exec), parsed again only when the file changed: its inode, time or size.
 * A file removed and written again under its name is a new inode.
 */
export class StampedJsonCache<T> {
  private readonly entries = new Map<string, { stamp: string; value: T }>();

  /** The file's parsed contents, or undefined when it is missing or unreadable. */
  read(file: string): T | undefined {
    try {
      const st = statSync(file, { bigint: true });
      const stamp = `${st.ino}:${st.mtimeNs}:${st.size}`;
      const known = this.entries.get(file);
      if (known?.stamp === stamp) return known.value;
      const value = JSON.parse(readFileSync(file, 'utf8')) as T;
      this.entries.set(file, { stamp, value });
      return value;
    } catch {
      this.entries.delete(file);
      return undefined;
    }
  }
}
