import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import { chunkPath, intactOn } from './chunk-shipping.js';
import { canPresign, chunkSizes, StepError, type ChunkStore, type LongOperation, type PresigningStore, type SnapshotManifest } from '../../runtime/index.js';

/** Chunks presigned and fetched per round: the URLs are made just before they are used, so they can be short-lived. */
const BATCH = 128;
/** How long a presigned URL is good for: a batch of 128 MiB at a slow 1 MB/s, with room to retry. */
export const PRESIGN_SECONDS = 300;
/** Downloads in flight at once on the host. */
const PARALLEL = 8;
/** Where a host puts fetched chunks, inside the snapshot's target directory (removed once the files are put together). */
const CHUNKS = '.chunks';

/** Puts each file together from its chunks (fetched ones under .chunks/, or the host's own store's), in order, with its mode; then the fetched chunks go. Paths come on stdin, never in the script. */
const ASSEMBLE = `set -e
cd "$0"
while IFS= read -r line; do
  kind=\${line%% *}; rest=\${line#* }
  case "$kind" in
    D) mkdir -p -- "$rest" ;;
    F) mode=\${rest%% *}; path=\${rest#* }; exec 3>"$path"; chmod "$mode" -- "$path" ;;
    C) cat -- "$rest" >&3 ;;
  esac
done
exec 3>&-
rm -rf .chunks`;

export const damagedError = (snapshot: string, problem: string) =>
  new BothubError('INVALID_STATE', `snapshot "${snapshot}" is damaged (${problem}); it cannot be restored — delete it (\`DELETE /api/v1/snapshots/${snapshot}\`)`);

/** A manifest's file paths, checked: relative, inside the snapshot, one line each (they go to a script's stdin). */
function safeRel(rel: string): string {
  if (rel.startsWith('/') || rel.split('/').includes('..') || /[\n\r\0]/.test(rel)) throw new BothubError('INVALID_STATE', `a snapshot file has an unsafe path: ${JSON.stringify(rel)}`);
  return rel;
}

/**
 * The store, when `to` can read this snapshot from it itself: the store
 * presigns URLs (S3), every file is in chunks, and the host has curl and
 * sha256sum. Otherwise the snapshot goes through the control plane as before.
 */
export async function presigningFor(store: ChunkStore, manifest: Pick<SnapshotManifest, 'files'>, to: Host, signal?: AbortSignal): Promise<PresigningStore | undefined> {
  if (!canPresign(store) || !Object.values(manifest.files).every((f) => f.chunks)) return undefined;
  const tools = await to.run('sh', ['-c', 'command -v curl >/dev/null && command -v sha256sum >/dev/null'], { allowFailure: true, signal });
  return tools.code === 0 ? store : undefined;
}

export interface StoreFetchResult {
  /** Distinct chunks the host downloaded. */
  chunks: number;
  bytes: number;
  /** Distinct chunks the host's own store had already (checked there), not downloaded. */
  reused: number;
}

export interface StoreFetchOptions {
  log?: Logger;
  /** The error a missing or damaged chunk gives (default: the snapshot named `manifest.name` is damaged). */
  damaged?: (problem: string) => Error;
  /** The host's own chunk store directory: chunks it holds intact there are used, not downloaded. */
  targetStore?: string;
}

/**
 * Has a fleet host read a snapshot straight from the object store into
 * `targetDir`: the chunks its own store holds intact (checked there against
 * their names) are used from there; for the others the control plane
 * presigns a GET, a batch at a time, and the host fetches them with curl and
 * checks each against its sha256 name. Then the host puts the files together
 * and checks every file's sha256 against the manifest. No chunk's bytes pass
 * through the control plane, and a move back and forth downloads only what
 * changed. A missing or damaged chunk fails with one line naming the snapshot.
 */
export async function fetchFromStore(
  store: PresigningStore,
  manifest: Pick<SnapshotManifest, 'name' | 'files'>,
  to: Host,
  targetDir: string,
  op: LongOperation = {},
  opts: StoreFetchOptions = {},
): Promise<StoreFetchResult> {
  const { signal } = op;
  const damaged = opts.damaged ?? ((problem: string) => damagedError(manifest.name, problem));
  const chunkDir = `${targetDir}/${CHUNKS}`;
  const sizes = new Map<string, number>();
  const fileOf = new Map<string, string>();
  for (const [rel, f] of Object.entries(manifest.files)) {
    for (const [hash, size] of chunkSizes(f)) {
      sizes.set(hash, size);
      if (!fileOf.has(hash)) fileOf.set(hash, safeRel(rel));
    }
  }
  const all = [...sizes.keys()];
  const { targetStore } = opts;
  const held = targetStore ? await intactOn(to, new Map(all.map((h) => [h, chunkPath(targetStore, h)])), signal) : new Set<string>();
  const wanted = all.filter((h) => !held.has(h));
  await to.run('mkdir', ['-p', '--', chunkDir], { signal });
  let bytes = 0;
  for (let i = 0; i < wanted.length; i += BATCH) {
    signal?.throwIfAborted();
    const batch = wanted.slice(i, i + BATCH);
    op.onProgress?.({ step: 'transfer', message: `the host reads chunks ${i + 1}-${i + batch.length} of ${wanted.length} from the store (it holds ${held.size} already)`, done: i, total: wanted.length });
    const config = (await Promise.all(batch.map(async (h) => `url = "${await store.presignGet(h, PRESIGN_SECONDS)}"\noutput = "${h}"\n`))).join('');
    const got = await to.run('sh', ['-c', 'cd "$0" && exec curl --parallel --parallel-max "$1" -fsS --retry 3 --retry-connrefused -K -', chunkDir, String(PARALLEL)], {
      input: config,
      signal,
      allowFailure: true,
    });
    if (got.code !== 0) {
      // Which chunk is the store missing? A chunk it has means the network failed, not the snapshot.
      for (const h of batch) {
        if (!(await store.has(h, sizes.get(h)!))) throw damaged(`${fileOf.get(h)}: chunk ${h.slice(0, 12)}… is missing from the object store`);
      }
      throw new StepError('transfer', `the host could not download the snapshot's chunks from the store: ${got.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    }
    const check = await to.run('sh', ['-c', 'cd "$0" && exec sha256sum --check --quiet -', chunkDir], { input: batch.map((h) => `${h}  ${h}\n`).join(''), signal, allowFailure: true });
    if (check.code !== 0) {
      const bad = /^([0-9a-f]{64}): /m.exec(check.stdout)?.[1] ?? batch[0]!;
      throw damaged(`${fileOf.get(bad)}: chunk ${bad.slice(0, 12)}… does not match its checksum in the object store`);
    }
    for (const h of batch) bytes += sizes.get(h)!;
  }

  op.onProgress?.({ step: 'transfer', message: 'the host puts the snapshot files together', done: wanted.length, total: wanted.length });
  const dirs = new Set(Object.keys(manifest.files).map((rel) => dirname(rel)));
  const lines = [...dirs].filter((d) => d !== '.').map((d) => `D ${d}`);
  for (const [rel, f] of Object.entries(manifest.files)) {
    lines.push(`F ${(f.mode ?? 0o600).toString(8)} ${rel}`, ...(f.chunks ?? []).map((h) => `C ${held.has(h) ? chunkPath(targetStore!, h) : `${CHUNKS}/${h}`}`));
  }
  const put = await to.run('sh', ['-c', ASSEMBLE, targetDir], { input: lines.join('\n') + '\n', signal, allowFailure: true });
  if (put.code !== 0) {
    // A chunk of the host's store went between the check and the copy (its collector): fetch everything instead.
    if (held.size) return fetchFromStore(store, manifest, to, targetDir, op, { ...opts, targetStore: undefined });
    throw new StepError('transfer', `the host could not put the snapshot's files together: ${put.stderr.trim().split('\n').pop()}`);
  }
  await checkFilesOn(to, targetDir, manifest.files, damaged, signal);
  opts.log?.info({ snapshot: manifest.name, chunks: all.length, downloaded: wanted.length, reused: held.size, bytes }, 'a fleet host read a snapshot from the store itself');
  return { chunks: wanted.length, bytes, reused: held.size };
}

/** Every file of `files` in `dir` on the host, checked there against its sha256 (before CRIU sees any); a mismatch is `damaged`'s error. */
export async function checkFilesOn(to: Host, dir: string, files: SnapshotManifest['files'], damaged: (problem: string) => Error, signal?: AbortSignal): Promise<void> {
  const whole = Object.entries(files).map(([rel, f]) => `${f.sha256}  ${safeRel(rel)}\n`);
  const verified = await to.run('sh', ['-c', 'cd "$0" && exec sha256sum --check --quiet -', dir], { input: whole.join(''), signal, allowFailure: true });
  if (verified.code !== 0) throw damaged(`${verified.stdout.trim().split('\n')[0] ?? 'a file'} after it was put together`);
}
