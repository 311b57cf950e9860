import type { SyncFiles } from '../../hostexec/index.js';

/**
 * JSON files read synchronously on a hot path (an image's record, on every
 * exec), parsed again only when the file changed: its inode, time or size.
 * A file removed and written again under its name is a new inode.
 */
export class StampedJsonCache<T> {
  private readonly entries = new Map<string, { stamp: string; value: T }>();

  constructor(private readonly files: SyncFiles) {}

  /** The file's parsed contents, or undefined when it is missing or unreadable. */
  read(file: string): T | undefined {
    try {
      const stamp = this.files.stampSync(file);
      const known = this.entries.get(file);
      if (stamp !== undefined && known?.stamp === stamp) return known.value;
      const text = stamp === undefined ? undefined : this.files.readTextFileSync(file);
      if (text === undefined) throw new Error('unreadable');
      const value = JSON.parse(text) as T;
      this.entries.set(file, { stamp: stamp!, value });
      return value;
    } catch {
      this.entries.delete(file);
      return undefined;
    }
  }
}
