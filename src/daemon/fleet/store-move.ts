import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import { CHUNK_BYTES, type CopyResult, type LongOperation, type PresigningStore, type SnapshotFile } from '../../runtime/index.js';
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

/**
 * A frozen sandbox's state from one host to another through the object store
 * (BOTHUB_STORE), when both hosts have curl: the source cuts its files into
 * the store's 1 MiB chunks, the control plane presigns a PUT for each chunk
 * the store lacks (and only those), the source uploads them, and the target
 * reads them back through presigned GETs, each checked against its sha256.
 * The chunks are pinned while the move needs them and collected afterwards
 * unless a snapshot uses them. Undefined when this path cannot be taken (the
 * plain copy through the control plane is then used).
 */
export async function moveThroughStore(
  chunks: SnapshotChunks,
  from: Host,
  dir: string,
  to: Host,
  targetDir: string,
  sandbox: string,
  op: LongOperation,
  log: Logger,
): Promise<CopyResult | undefined> {
  const store = chunks.store;
  if (!canPresignPut(store)) return undefined;
  const [a, b] = await Promise.all([from, to].map((h) => h.run('sh', ['-c', TOOLS], { allowFailure: true, signal: op.signal })));
  if (a!.code !== 0 || b!.code !== 0) return undefined;
  const { signal } = op;
  const listing = await from.run('find', [dir, '-type', 'f', '-printf', '%s %m %P\\n'], { signal });
  const list = listing.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => /^(\d+) ([0-7]+) (.+)$/.exec(l)!)
    .map((m) => ({ size: Number(m[1]), mode: Number.parseInt(m[2]!, 8), rel: m[3]! }));
  if (list.some((f) => /[\n\r]/.test(f.rel))) return undefined;
  const out = (await from.run('mktemp', ['-d', `--tmpdir=${dirname(dirname(dir))}`, '.store-out.XXXXXX'], { signal })).stdout.trim();
  const pins = chunks.pins();
  const pieces = new Map<string, { hash: string; size: number }>();
  try {
    op.onProgress?.({ step: 'transfer', message: 'the source host cuts the state into chunks' });
    const split = await from.run('sh', ['-c', SPLIT, dir, out], { input: list.map((f, i) => `${i} ${f.rel}\n`).join(''), signal, allowFailure: true });
    if (split.code === 3) return undefined;
    if (split.code !== 0) throw new BothubError('RUNTIME_FAILED', `cutting the state into chunks on the source host failed: ${split.stderr.trim()}`);
    const files: Record<string, SnapshotFile> = {};
    for (const line of split.stdout.split('\n')) {
      const whole = /^W (\d+) ([0-9a-f]{64})$/.exec(line);
      const piece = /^([0-9a-f]{64})  (\d+)\.(\d{6})$/.exec(line);
      if (whole) {
        const f = list[Number(whole[1])]!;
        files[f.rel] = { size: f.size, sha256: whole[2]!, mode: f.mode, chunks: [] };
      } else if (piece) {
        const f = list[Number(piece[2])]!;
        const index = Number(piece[3]);
        pieces.set(`${piece[2]}.${piece[3]}`, { hash: piece[1]!, size: Math.min(CHUNK_BYTES, f.size - index * CHUNK_BYTES) });
      }
    }
    for (const [name, p] of [...pieces].sort(([x], [y]) => (x < y ? -1 : 1))) files[list[Number(name.split('.')[0])]!.rel]!.chunks!.push(p.hash);
    if (Object.keys(files).length !== list.length) throw new BothubError('RUNTIME_FAILED', 'the source host did not report every file of the state');

    // The pieces the store lacks, one per distinct chunk.
    const missing = new Map<string, string>();
    for (const [name, p] of pieces) {
      if (missing.has(p.hash)) continue;
      await pins.pin(p.hash);
      if (!(await store.has(p.hash, p.size))) missing.set(p.hash, name);
    }
    const todo = [...missing];
    for (let i = 0; i < todo.length; i += BATCH) {
      const batch = todo.slice(i, i + BATCH);
      op.onProgress?.({ step: 'transfer', message: `the source host uploads chunks ${i + 1}-${i + batch.length} of ${todo.length} to the store`, done: i, total: todo.length });
      const config = await Promise.all(batch.map(async ([hash, name]) => `upload-file = "${name}"\nurl = "${await store.presignPut(hash, pieces.get(name)!.size, PRESIGN_SECONDS)}"\n`));
      const put = await from.run('sh', ['-c', 'cd "$0" && exec curl --parallel --parallel-max 8 -fsS --retry 3 --retry-connrefused -o /dev/null -K -', out], {
        input: config.join(''),
        signal,
        allowFailure: true,
      });
      if (put.code !== 0) throw new BothubError('UNAVAILABLE', `the source host could not upload the state to the store: ${put.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    }
    await from.run('rm', ['-rf', '--', out]);
    const fetched = await fetchFromStore(store, { name: sandbox, files }, to, targetDir, op, log, (problem) =>
      new BothubError('RUNTIME_FAILED', `the state of sandbox "${sandbox}" did not come back intact from the store (${problem}); the move is undone`),
    );
    log.info({ sandbox, chunks: pieces.size, uploaded: todo.length, fetched: fetched.chunks }, 'moved through the store');
    return { bytes: list.reduce((n, f) => n + f.size, 0), resumedBytes: 0, files: list.length };
  } finally {
    await from.run('rm', ['-rf', '--', out]).catch(() => undefined);
    pins.release();
    // Chunks only this move used go; those a snapshot shares stay.
    await chunks.collect([...new Set([...pieces.values()].map((p) => p.hash))]).catch((err: unknown) => log.warn({ err }, 'collecting a move\'s chunks failed'));
  }
}
