import { CHUNK_BYTES } from './chunked-tree.js';
import { ChunkError, type ChunkStore } from './chunk-store.js';

/** A chunk's bytes in a buffer of the pool: lent to whoever took it until they release it. */
export interface ChunkSlot {
  readonly hash: string;
  /** The chunk's bytes (a view of the slot's buffer). */
  readonly bytes: Buffer;
}

interface Slot {
  hash: string;
  buffer: Buffer;
  size: number;
  /** Settles once the chunk is read and checked. */
  loading: Promise<void>;
  loaded: boolean;
  /** Takers that have not released it: its buffer is not reused meanwhile (a socket may still be sending from it). */
  users: number;
}

/** Longer than any chunk, so that a file longer than a chunk can be told apart (see ChunkStore.readInto). */
const SLOT_BYTES = CHUNK_BYTES + 1;

/**
 * Chunks read for one restore (or for branches made together from one
 * copy), each read and checked once, kept in a bounded set of buffers that
 * are reused rather than allocated afresh: streaming a gigabyte through
 * fresh 1 MiB buffers made V8 collect garbage every 100 ms, half the
 * daemon's time. The least recently used chunk nobody holds gives up its
 * buffer to the next; more buffers are made only while every one is held.
 *
 * It keeps `keep` chunks, and more when it sees chunks it let go asked for
 * again: branches restored one after another stream the same memory a
 * second or so apart, and each read a chunk again (from disk, checked
 * again) once the one before had pushed it out. Ten 1 GiB branches one by
 * one took 12.4 s keeping 64 chunks, 7.8 s keeping 512.
 */
export class ChunkSlots {
  /** In order of use, least recent first. */
  private readonly slots = new Map<string, Slot>();
  private readonly spare: Buffer[] = [];
  /** Chunks recently let go (least recent first), to see them asked for again. */
  private readonly letGo = new Set<string>();

  constructor(
    private readonly store: ChunkStore,
    private keep: number,
    /** As many as it may grow to, when chunks it let go are asked for again. */
    private readonly most: number = keep,
  ) {}

  /** The chunk, read and checked (or already here); ChunkError when it is missing or damaged. Release it when done. */
  async take(hash: string): Promise<ChunkSlot> {
    const slot = this.slotFor(hash);
    slot.users++;
    try {
      await slot.loading;
    } catch (e) {
      slot.users--;
      throw e;
    }
    return { hash, bytes: slot.buffer.subarray(0, slot.size) };
  }

  release(taken: ChunkSlot): void {
    const slot = this.slots.get(taken.hash);
    if (slot) slot.users--;
  }

  /** Starts reading a chunk soon wanted, when a buffer is free for it; its failure is heard by whoever takes it. */
  prefetch(hash: string): void {
    if (this.slots.has(hash) || (this.slots.size >= this.keep && !this.evictable())) return;
    this.slotFor(hash).loading.catch(() => undefined);
  }

  private slotFor(hash: string): Slot {
    const found = this.slots.get(hash);
    if (found) {
      this.slots.delete(hash);
      this.slots.set(hash, found);
      return found;
    }
    if (this.letGo.delete(hash)) this.keep = Math.min(this.most, this.keep + 1);
    const slot: Slot = { hash, buffer: this.buffer(), size: 0, loading: Promise.resolve(), loaded: false, users: 0 };
    slot.loading = this.load(slot);
    this.slots.set(hash, slot);
    return slot;
  }

  private async load(slot: Slot): Promise<void> {
    try {
      if (this.store.readInto) slot.size = await this.store.readInto(slot.hash, slot.buffer);
      else {
        const bytes = await this.store.get(slot.hash);
        if (bytes.length >= SLOT_BYTES) throw new ChunkError(slot.hash, 'damaged');
        slot.size = bytes.copy(slot.buffer);
      }
      slot.loaded = true;
    } catch (e) {
      // Not kept: the next take reads it again (and fails again, if it is truly gone).
      if (this.slots.get(slot.hash) === slot) this.slots.delete(slot.hash);
      this.spare.push(slot.buffer);
      throw e;
    }
  }

  private evictable(): Slot | undefined {
    for (const slot of this.slots.values()) if (slot.loaded && slot.users === 0) return slot;
    return undefined;
  }

  private buffer(): Buffer {
    const spare = this.spare.pop();
    if (spare) return spare;
    if (this.slots.size >= this.keep) {
      const victim = this.evictable();
      if (victim) {
        this.slots.delete(victim.hash);
        this.letGo.add(victim.hash);
        if (this.letGo.size > this.most) this.letGo.delete(this.letGo.values().next().value!);
        return victim.buffer;
      }
    }
    return Buffer.allocUnsafeSlow(SLOT_BYTES);
  }
}
