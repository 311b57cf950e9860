import type { Logger } from 'pino';
import type { Host } from '../../hostexec/index.js';
import { type SnapshotFile } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { ChunkCache } from './chunk-cache.js';
import type { SnapshotChunks } from './snapshot-chunks.js';
/** In a cold directory whose files went into the store: each file's chunk list. Written last. */
export declare const COLD_MANIFEST = "cold.json";
export interface ColdManifest {
    version: 1;
    sandboxId: string;
    sizeBytes: number;
    files: Record<string, SnapshotFile>;
}
export interface ColdImagesDeps {
    db: Db;
    host: Host;
    chunks: SnapshotChunks;
    cache: ChunkCache;
    /** Where a wake puts the files together (tmpfs mounts), the snapshots' staging directory. */
    scratchDir: string;
    log: Logger;
}
/** A cold image as the chunk store keeps it, if it was put there. */
export declare function readColdManifest(dir: string): Promise<ColdManifest | undefined>;
/** A cold directory holding an image, whole (CRIU's inventory, or sealed) or as chunks. */
export declare const coldImageIn: (dir: string) => boolean;
/**
 * Cold images (thermal-service.ts) in the snapshot store: CRIU dumps into
 * the cold directory as before, then its files go into the store as chunks
 * it lacks (a cold image right after a snapshot of the same sandbox adds
 * almost nothing), the references are recorded, cold.json is written, and
 * the whole files go. A crash at any point leaves a complete image: the
 * whole files until cold.json is in place, the chunks (referenced first)
 * after. Letting an image go moves its chunks into the bounded cache.
 */
export declare class ColdImages {
    private readonly deps;
    constructor(deps: ColdImagesDeps);
    ingest(sandboxId: string, dir: string, signal?: AbortSignal): Promise<ColdManifest>;
    /**
     * A directory CRIU can restore from: `dir` itself for a whole image, else
     * its files put together from the store on a tmpfs, every chunk checked as
     * it is read (a damaged one fails here, before the sandbox is touched).
     */
    open(sandboxName: string, dir: string, signal?: AbortSignal): Promise<{
        dir: string;
        release: () => Promise<void>;
    }>;
    /** The image goes: its references into the cache (one transaction), then its directory, then the chunks nothing holds. */
    release(sandboxId: string, dir: string): Promise<void>;
    /** At start: references of images whose directory is gone (a crash between removing one and its records) are let go. */
    sweep(coldDir: (sandboxId: string) => string): Promise<void>;
}
