import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { SnapshotChunks } from './snapshot-chunks.js';
/**
 * Every host's store keeps the chunks of cold images it let go (a sandbox
 * that woke, or left for another host) for a while: a sandbox moving back
 * then finds most of its pages there, and only what changed is sent again.
 * Bounded in bytes; past the bound the oldest go first, and a chunk leaves
 * the disk only when nothing else holds it (the collector decides).
 */
export declare class ChunkCache {
    private readonly db;
    private readonly chunks;
    /** BOTHUB_CHUNK_CACHE_MIB in bytes; 0 keeps nothing. */
    readonly boundBytes: number;
    private readonly log;
    constructor(db: Db, chunks: SnapshotChunks, 
    /** BOTHUB_CHUNK_CACHE_MIB in bytes; 0 keeps nothing. */
    boundBytes: number, log: Logger);
    /** Takes chunks in (inside the caller's transaction, the one that drops their last reference); a chunk cached again is younger. */
    keep(trx: Db, chunks: {
        hash: string;
        size: number;
    }[]): Promise<void>;
    /** Its size in bytes and chunks. */
    size(): Promise<{
        bytes: number;
        chunks: number;
    }>;
    /** Drops the oldest places past the bound, then frees the chunks nothing else holds. Returns how many places went. */
    trim(): Promise<number>;
}
