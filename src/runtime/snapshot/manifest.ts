import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import type { HostFiles } from '../../hostexec/index.js';
import { missingChunk as firstMissingChunk } from './chunked-tree.js';
import type { ChunkStore } from './chunk-store.js';
import { BothubError, type GpuNeeds, type HostFingerprint, type SandboxSpec } from '../../core/index.js';

export const MANIFEST = 'manifest.json';
export const MANIFEST_VERSION = 1;

export interface SnapshotFile {
  size: number;
  sha256: string;
  /** Where the bytes are: chunks in the store, in order (chunked-tree.ts); absent for a file kept in the snapshot's directory. */
  chunks?: string[];
  /**
   * Permission bits of a chunked file, given back when it is put together:
   * CRIU refuses to reopen a file a process held (an exec's log) whose mode changed.
   */
  mode?: number;
}

/** A snapshot describes itself: what it was taken of, where, and every file's checksum. */
export interface SnapshotManifest {
  version: number;
  id: string;
  name: string;
  createdAt: string;
  /** The sandbox it was taken of; a branch is made from this spec. */
  sandbox: SandboxSpec & { id: string; name: string; address: string | null };
  host: HostFingerprint;
  sizeBytes: number;
  /** How long the sandbox's processes were frozen while it was taken. */
  frozenMs: number;
  /** Images and layer are AES-256-GCM encrypted (the sandbox held secrets). */
  encrypted?: boolean;
  /** A GPU sandbox's: what restoring its GPU state needs of a host, and the GPUs it was on. */
  gpu?: GpuNeeds & { uuids: string[] };
  /** The exec ledger up to the snapshot (the daemon's rows, as stored). */
  execs?: unknown[];
  files: Record<string, SnapshotFile>;
}

/** Every regular file under `dir` on `host`, depth first. */
export async function* walk(host: HostFiles, dir: string): AsyncGenerator<string> {
  for (const e of await host.readdir(dir)) {
    const p = join(dir, e.name);
    if (e.kind === 'directory') yield* walk(host, p);
    else if (e.kind === 'file') yield p;
  }
}

/** The file's sha256 in hex, streamed (1 MiB reads on this machine). */
export async function sha256File(host: HostFiles, path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  // Leaving the loop (an abort) destroys the stream, which closes the file.
  for await (const chunk of await host.createReadStream(path)) {
    signal?.throwIfAborted();
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** Read whole below this size (one read, no stream); streamed in 1 MiB chunks above it. */
const READ_WHOLE = 4 * 1024 * 1024;

async function checksumFile(host: HostFiles, path: string, signal?: AbortSignal): Promise<SnapshotFile> {
  signal?.throwIfAborted();
  const { size } = await host.stat(path);
  if (size > READ_WHOLE) return { size, sha256: await sha256File(host, path, signal) };
  const data = await host.readFile(path);
  return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

/** Files hashed at once: a snapshot is a few big files and some thirty small ones, each a few round trips to the thread pool. */
const HASHING_AT_ONCE = 8;

/**
 * Checksums every file under `dir` (the manifest itself excluded), several
 * at a time: one after the other, the small files' opens, stats and reads
 * waited on the thread pool in turn, and that wait was most of a small
 * sandbox's checksum step (and of a restore's verify step).
 */
export async function checksumTree(host: HostFiles, dir: string, signal?: AbortSignal): Promise<Record<string, SnapshotFile>> {
  const paths: string[] = [];
  for await (const path of walk(host, dir)) if (relative(dir, path) !== MANIFEST) paths.push(path);
  const sums: SnapshotFile[] = new Array<SnapshotFile>(paths.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < paths.length; i = next++) sums[i] = await checksumFile(host, paths[i]!, signal);
  };
  await Promise.all(Array.from({ length: Math.min(HASHING_AT_ONCE, paths.length) }, worker));
  return Object.fromEntries(paths.map((path, i) => [relative(dir, path), sums[i]!]));
}

/**
 * Refuses a snapshot whose files are missing, extra or changed: restoring it
 * could crash or corrupt. Files kept as chunks are checked for presence here
 * (their bytes are checked as a restore reads them: chunked-tree.ts).
 */
export async function verifyTree(host: HostFiles, dir: string, manifest: SnapshotManifest, signal?: AbortSignal, store?: ChunkStore): Promise<void> {
  const actual = await checksumTree(host, dir, signal);
  const problems: string[] = [];
  for (const [rel, f] of Object.entries(manifest.files)) {
    if (f.chunks) {
      const missing = store ? await firstMissingChunk(store, f) : 'no chunk store';
      if (missing) problems.push(`${rel}: ${missing}`);
      continue;
    }
    const a = actual[rel];
    if (!a) problems.push(`${rel} is missing`);
    else if (a.size !== f.size || a.sha256 !== f.sha256) problems.push(`${rel} does not match its checksum`);
  }
  for (const rel of Object.keys(actual)) if (!manifest.files[rel]) problems.push(`${rel} is not in the manifest`);
  if (problems.length) {
    throw new BothubError(
      'INVALID_STATE',
      `snapshot "${manifest.name}" is damaged (${problems.slice(0, 3).join('; ')}); it cannot be restored — delete it (\`DELETE /api/v1/snapshots/${manifest.name}\`)`,
    );
  }
}
