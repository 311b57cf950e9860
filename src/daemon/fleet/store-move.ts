import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import { CHUNK_BYTES, chunkSizes, type CopyResult, type LongOperation, type PresigningStore, type SnapshotFile } from '../../runtime/index.js';
import { COLD_MANIFEST, type ColdManifest } from '../services/cold-images.js';
import type { SnapshotChunks } from '../services/snapshot-chunks.js';
import { fetchFromStore, PRESIGN_SECONDS } from './store-fetch.js';

/** A store a host can also write a chunk to by itself. */
export interface PresignedPutStore extends PresigningStore {
  presignPut(hash: string, size: number, seconds: number): Promise<string>;
}

const canPresignPut = (store: unknown): store is PresignedPutStore => typeof (store as Partial<PresignedPutStore>).presignPut === 'function';

const TOOLS = 'command -v curl >/dev/null && command -v sha256sum >/dev/null && command -v split >/dev/null';
const BATCH = 128;

/**
 * Cuts every regular file under $0 into 1 MiB pieces in $1 (named
 * `<file index>.<piece index>`, the index given on stdin with the path) and
 * prints each file's sha256, then every piece's. Anything but files and
 * directories (a socket, a link) makes it refuse: the plain copy handles those.
 */
const SPLIT = `set -e
cd "$0"
if [ -n "$(find . ! -type f ! -type d -print -quit)" ]; then echo "not only files and directories" >&2; exit 3; fi
while IFS= read -r line; do
  i=\${line%% *}; path=\${line#* }
  split -b ${CHUNK_BYTES} -a 6 -d -- "$path" "$1/$i."
  printf 'W %s %s\\n' "$i" "$(sha256sum < "$path" | cut -d' ' -f1)"
done
cd "$1" && find . -type f -printf '%P\\0' | sort -z | xargs -0 -r sha256sum --`;

/** The state's files as chunks, and where on the source host each chunk's bytes are to be uploaded from. */
export interface OnSource {
  files: Record<string, SnapshotFile>;
  /** By chunk: its size and the path of a file holding exactly its bytes. */
  pieces: Map<string, { size: number; path: string }>;
}

/** A cold image kept as chunks (cold-images.ts): its chunk lists, and the chunks' files in the source host's store. */
async function coldImageOnSource(from: Host, fromStore: string | undefined, dir: string, signal?: AbortSignal): Promise<OnSource | undefined> {
  const text = await from.run('cat', ['--', join(dir, COLD_MANIFEST)], { allowFailure: true, signal });
  if (text.code !== 0) return undefined;
  return chunksIn(fromStore, (JSON.parse(text.stdout) as ColdManifest).files);
}

/** Files kept as chunks of a host's store (a cold image, a snapshot an agent keeps): each chunk's file there. */
export function chunksIn(store: string | undefined, files: Record<string, SnapshotFile>): OnSource {
  const pieces = new Map<string, { size: number; path: string }>();
  // Without a store on disk (this machine's chunks in S3 already), `path` is never read: every chunk is in the store.
  for (const f of Object.values(files)) for (const [hash, size] of chunkSizes(f)) pieces.set(hash, { size, path: join(store ?? '/nonexistent', hash.slice(0, 2), hash) });
  return { files, pieces };
}

/** Whole files cut into the store's chunks on the source host, in `out`; undefined when they cannot be (not only files). */
async function cutOnSource(from: Host, dir: string, out: string, signal?: AbortSignal): Promise<OnSource | undefined> {
  const listing = await from.run('find', [dir, '-type', 'f', '-printf', '%s %m %P\\n'], { signal });
  const list = listing.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => /^(\d+) ([0-7]+) (.+)$/.exec(l)!)
    .map((m) => ({ size: Number(m[1]), mode: Number.parseInt(m[2]!, 8), rel: m[3]! }));
  if (list.some((f) => /[\n\r]/.test(f.rel))) return undefined;
  const split = await from.run('sh', ['-c', SPLIT, dir, out], { input: list.map((f, i) => `${i} ${f.rel}\n`).join(''), signal, allowFailure: true });
  if (split.code === 3) return undefined;
  if (split.code !== 0) throw new BothubError('RUNTIME_FAILED', `cutting the state into chunks on the source host failed: ${split.stderr.trim()}`);
  const files: Record<string, SnapshotFile> = {};
  const byName = new Map<string, { hash: string; size: number }>();
  for (const line of split.stdout.split('\n')) {
    const whole = /^W (\d+) ([0-9a-f]{64})$/.exec(line);
    const piece = /^([0-9a-f]{64})  (\d+)\.(\d{6})$/.exec(line);
    if (whole) {
      const f = list[Number(whole[1])]!;
      files[f.rel] = { size: f.size, sha256: whole[2]!, mode: f.mode, chunks: [] };
    } else if (piece) {
      const f = list[Number(piece[2])]!;
      byName.set(`${piece[2]}.${piece[3]}`, { hash: piece[1]!, size: Math.min(CHUNK_BYTES, f.size - Number(piece[3]) * CHUNK_BYTES) });
    }
  }
  if (Object.keys(files).length !== list.length) throw new BothubError('RUNTIME_FAILED', 'the source host did not report every file of the state');
  const pieces = new Map<string, { size: number; path: string }>();
  for (const [name, p] of [...byName].sort(([x], [y]) => (x < y ? -1 : 1))) {
    files[list[Number(name.split('.')[0])]!.rel]!.chunks!.push(p.hash);
    if (!pieces.has(p.hash)) pieces.set(p.hash, { size: p.size, path: join(out, name) });
  }
  return { files, pieces };
}

/** The store, when two hosts can go through it: it presigns PUTs (S3) and both have curl, sha256sum and split. */
export async function storeBetween(store: unknown, from: Host, to: Host, signal?: AbortSignal): Promise<PresignedPutStore | undefined> {
  if (!canPresignPut(store)) return undefined;
  const [a, b] = await Promise.all([from, to].map((h) => h.run('sh', ['-c', TOOLS], { allowFailure: true, signal })));
  return a!.code === 0 && b!.code === 0 ? store : undefined;
}

/** What goes through the store, from where, to where. */
export interface StoreTransfer {
  chunks: SnapshotChunks;
  store: PresignedPutStore;
  from: Host;
  state: OnSource;
  to: Host;
  /** The target host's chunk store directory: chunks it holds are not downloaded again. */
  toStore: string | undefined;
  targetDir: string;
  /** What it is, in the logs ({ sandbox } or { snapshot }). */
  what: { sandbox: string } | { snapshot: string };
  /** The error a chunk missing or damaged in the store gives. */
  damaged: (problem: string) => Error;
  /** Once every chunk is uploaded: what the source may let go now. */
  uploaded?: () => Promise<unknown>;
}

/**
 * Files kept as chunks on one host into `targetDir` on another, through the
 * object store: the control plane presigns a PUT for each chunk the store
 * lacks (and only those), the source uploads them, and the target reads
 * back, through presigned GETs each checked against its sha256, those its
 * own store does not hold; then it puts the files together and checks each
 * against its sha256. The chunks are pinned meanwhile and collected
 * afterwards unless something holds them.
 */
export async function throughStore(t: StoreTransfer, op: LongOperation, log: Logger): Promise<CopyResult> {
  const { chunks, store, from } = t;
  const { signal } = op;
  const { files, pieces } = t.state;
  const pins = chunks.pins();
  try {
    // The chunks the store lacks.
    const missing: string[] = [];
    for (const [hash, p] of pieces) {
      await pins.pin(hash);
      if (!(await store.has(hash, p.size))) missing.push(hash);
    }
    for (let i = 0; i < missing.length; i += BATCH) {
      const batch = missing.slice(i, i + BATCH);
      op.onProgress?.({ step: 'transfer', message: `the source host uploads chunks ${i + 1}-${i + batch.length} of ${missing.length} to the store`, done: i, total: missing.length });
      const config = await Promise.all(batch.map(async (hash) => `upload-file = "${pieces.get(hash)!.path}"\nurl = "${await store.presignPut(hash, pieces.get(hash)!.size, PRESIGN_SECONDS)}"\n`));
      const put = await from.run('curl', ['--parallel', '--parallel-max', '8', '-fsS', '--retry', '3', '--retry-connrefused', '-o', '/dev/null', '-K', '-'], {
        input: config.join(''),
        signal,
        allowFailure: true,
      });
      if (put.code !== 0) throw new BothubError('UNAVAILABLE', `the source host could not upload the state to the store: ${put.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    }
    await t.uploaded?.();
    const fetched = await fetchFromStore(store, { name: 'sandbox' in t.what ? t.what.sandbox : t.what.snapshot, files }, t.to, t.targetDir, op, { log, targetStore: t.toStore, damaged: t.damaged });
    log.info({ ...t.what, chunks: pieces.size, uploaded: missing.length, fetched: fetched.chunks, reused: fetched.reused }, 'sent through the store');
    const bytes = [...pieces.values()].reduce((n, p) => n + p.size, 0);
    return { bytes, resumedBytes: 0, files: Object.keys(files).length };
  } finally {
    pins.release();
    // Chunks only this transfer used go; those a snapshot or a cold image here shares, or the chunk cache keeps, stay.
    await chunks.collect([...pieces.keys()]).catch((err: unknown) => log.warn({ err }, "collecting a transfer's chunks failed"));
  }
}

/**
 * A frozen sandbox's state from one host to another through the object store
 * (BOTHUB_STORE), when both hosts have curl: the source's chunks (a cold
 * image already kept as chunks in its store, or its files cut into the
 * store's 1 MiB chunks there) go through the store (throughStore).
 * Undefined when this path cannot be taken (the transfer through the control
 * plane is then used).
 */
export async function moveThroughStore(
  chunks: SnapshotChunks,
  from: Host,
  /** The source host's chunk store directory, where its cold images' chunks are. */
  fromStore: string | undefined,
  dir: string,
  to: Host,
  /** The target host's chunk store directory: chunks it holds are not downloaded again. */
  toStore: string | undefined,
  targetDir: string,
  sandbox: string,
  op: LongOperation,
  log: Logger,
): Promise<CopyResult | undefined> {
  const store = await storeBetween(chunks.store, from, to, op.signal);
  if (!store) return undefined;
  const { signal } = op;
  const out = (await from.run('mktemp', ['-d', `--tmpdir=${dirname(dirname(dir))}`, '.store-out.XXXXXX'], { signal })).stdout.trim();
  const dropCut = () => from.run('rm', ['-rf', '--', out]);
  try {
    op.onProgress?.({ step: 'transfer', message: 'the source host cuts the state into chunks' });
    const state = (await coldImageOnSource(from, fromStore, dir, signal)) ?? (await cutOnSource(from, dir, out, signal));
    if (!state) return undefined;
    const damaged = (problem: string) => new BothubError('RUNTIME_FAILED', `the state of sandbox "${sandbox}" did not come back intact from the store (${problem}); the move is undone`);
    return await throughStore({ chunks, store, from, state, to, toStore, targetDir, what: { sandbox }, damaged, uploaded: dropCut }, op, log);
  } finally {
    await dropCut().catch(() => undefined);
  }
}
