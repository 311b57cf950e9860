import { join } from 'node:path';
import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import { pipeBetween, type Host } from '../../hostexec/index.js';
import { chunkSizes, copyTree, LocalChunkStore, type ChunkStore, type CopyResult, type LongOperation, type SnapshotFile } from '../../runtime/index.js';
import { COLD_MANIFEST, type ColdManifest } from '../services/cold-images.js';
import { CHUNKS_DIR } from '../services/snapshot-ingest.js';
import type { HostEndpoint } from './host-service.js';

/** One end of a transfer: where programs run, and the directory of that host's chunk store. */
export interface ChunkSide {
  exec: Host;
  store: string;
}

/** A target without a chunk store (a plain directory: a parked sandbox's state) is sent every chunk. */
export type ChunkTarget = Omit<ChunkSide, 'store'> & { store?: string };

/** What a transfer by chunks sent. */
export interface ChunkShipResult extends CopyResult {
  /** Chunks sent, and chunks the target had already (its store, or an earlier try). */
  chunksSent: number;
  chunksThere: number;
}

/** Chunks sent wait here, inside the target directory, until the files are put together (the target's collector never sees them). */
const INCOMING = '.chunks-in';
/** Rounds of ship, check, put together: a chunk the target's collector freed, or one that arrived damaged, is sent again. */
const ROUNDS = 3;

export const chunkPath = (root: string, hash: string) => join(root, hash.slice(0, 2), hash);

/**
 * A host's chunk store: an agent's is `<data-dir>/snapshots/.chunks` (it runs
 * this same daemon); this machine's is the snapshot store's own, when it is
 * on disk. Undefined when the chunks cannot be read as files.
 */
export function chunkSide(e: Pick<HostEndpoint, 'exec' | 'dataDir' | 'agent'>, localStore?: ChunkStore): ChunkSide | undefined {
  if (e.agent) return { exec: e.exec, store: join(e.dataDir, 'snapshots', CHUNKS_DIR) };
  return localStore instanceof LocalChunkStore ? { exec: e.exec, store: localStore.root } : undefined;
}

/**
 * Where a host keeps chunk files it can use in place of downloading them: an
 * agent's store, or this machine's (a local store, or the cache in front of
 * S3). Unlike chunkSide, a cache is enough: every use checks each chunk there first.
 */
export function chunkDirOf(e: Pick<HostEndpoint, 'exec' | 'dataDir' | 'agent'>, localStore: ChunkStore): string | undefined {
  return e.agent ? join(e.dataDir, 'snapshots', CHUNKS_DIR) : localStore.localDir;
}

/** Of the wanted chunks, where the target has each whole (the right size): sent earlier first, else its store. */
async function whereThere(to: ChunkTarget, toDir: string, wanted: Map<string, number>, exclude: Set<string>, signal?: AbortSignal): Promise<Map<string, string>> {
  const paths = [...wanted.keys()].flatMap((h) => [chunkPath(join(toDir, INCOMING), h), ...(exclude.has(h) || !to.store ? [] : [chunkPath(to.store, h)])]);
  const r = await to.exec.run('sh', ['-c', 'xargs -0 -r stat -c "%s %n" -- 2>/dev/null; true'], { input: paths.map((p) => `${p}\0`).join(''), signal });
  const found = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(\d+) (.*\/([0-9a-f]{64}))$/.exec(line);
    if (!m || Number(m[1]) !== wanted.get(m[3]!)) continue;
    if (!found.has(m[3]!) || m[2]!.includes(`/${INCOMING}/`)) found.set(m[3]!, m[2]!);
  }
  return found;
}

/** Of the chunks at `where` (hash → path on the host), those whose bytes hash to their name there: checked on the host, where they are. */
export async function intactOn(exec: Host, where: ReadonlyMap<string, string>, signal?: AbortSignal): Promise<Set<string>> {
  if (!where.size) return new Set();
  const r = await exec.run('sh', ['-c', 'xargs -0 -r sha256sum -- 2>/dev/null; true'], { input: [...where.values()].map((p) => `${p}\0`).join(''), signal });
  const ok = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([0-9a-f]{64}) {2}.*\/([0-9a-f]{64})$/.exec(line);
    if (m && m[1] === m[2] && where.has(m[1]!)) ok.add(m[1]!);
  }
  return ok;
}

/** The chunks whose bytes at `where` do not hash to their name (checked on the target, where they are). */
async function damagedThere(to: ChunkTarget, where: Map<string, string>, signal?: AbortSignal): Promise<string[]> {
  const ok = await intactOn(to.exec, where, signal);
  return [...where.keys()].filter((h) => !ok.has(h));
}

/** Writes every file from its chunks, in order, with its mode; then the chunks sent go. */
const ASSEMBLE = [
  'd=$0',
  'while IFS= read -r line; do',
  '  case $line in',
  '    "F "*) rest=${line#F }; mode=${rest%% *}; cur="$d/${rest#* }"; mkdir -p -- "$(dirname -- "$cur")" && : > "$cur" && chmod "$mode" -- "$cur" || exit 1 ;;',
  '    "C "*) cat -- "${line#C }" >> "$cur" || exit 1 ;;',
  '  esac',
  'done',
  `rm -rf -- "$d/${INCOMING}"`,
].join('\n');

function checkedRel(rel: string): string {
  if (!rel || rel.startsWith('/') || rel.includes('\n') || rel.split('/').includes('..')) throw new BothubError('INVALID_STATE', `a state file is named "${rel}", which cannot be sent`);
  return rel;
}

/**
 * Puts the files of a chunk list (a cold image, a snapshot) whole into
 * `toDir` on the target, sending only the chunks the target lacks: it is
 * asked which chunks its store holds, the others go in one tar stream, every
 * chunk is checked there against its name, and the files are put together
 * there. A chunk its collector freed meanwhile, or one damaged, is sent in
 * the next round. Resumable: chunks an earlier try sent are not sent again.
 */
export async function shipChunks(from: ChunkSide, files: Record<string, SnapshotFile>, to: ChunkTarget, toDir: string, op: LongOperation = {}): Promise<ChunkShipResult> {
  const wanted = new Map<string, number>();
  for (const f of Object.values(files)) for (const [hash, size] of chunkSizes(f)) wanted.set(hash, size);
  const incoming = join(toDir, INCOMING);
  await to.exec.run('mkdir', ['-p', '--', incoming], { signal: op.signal });
  const notFromStore = new Set<string>();
  let sent = 0;
  let sentBytes = 0;
  let there = 0;
  let resumedBytes = 0;
  for (let round = 1; ; round++) {
    const where = await whereThere(to, toDir, wanted, notFromStore, op.signal);
    if (round === 1) {
      there = [...where.values()].filter((p) => !p.startsWith(incoming)).length;
      // Chunks an earlier try (cut off by a dropped connection) delivered whole.
      resumedBytes = [...where].filter(([, p]) => p.startsWith(incoming)).reduce((n, [h]) => n + wanted.get(h)!, 0);
    }
    const missing = [...wanted.keys()].filter((h) => !where.has(h));
    op.onProgress?.({ step: 'transfer', message: `${missing.length} of ${wanted.size} chunk(s) to send`, done: 0, total: missing.reduce((n, h) => n + wanted.get(h)!, 0) });
    if (missing.length) {
      let done = 0;
      await pipeBetween(
        from.exec,
        ['tar', ['-C', from.store, '-cf', '-', '--null', '--verbatim-files-from', '-T', '-']],
        to.exec,
        ['tar', ['-C', incoming, '-xf', '-']],
        { signal: op.signal, producerInput: missing.map((h) => `${h.slice(0, 2)}/${h}\0`).join(''), onBytes: (n) => op.onProgress?.({ step: 'transfer', done: (done += n) }) },
      );
      sent += missing.length;
      sentBytes += missing.reduce((n, h) => n + wanted.get(h)!, 0);
      for (const h of missing) where.set(h, chunkPath(incoming, h));
    }
    const damaged = await damagedThere(to, where, op.signal);
    if (damaged.length) {
      if (round >= ROUNDS) throw new BothubError('RUNTIME_FAILED', `${damaged.length} chunk(s) arrived damaged on the target after ${ROUNDS} tries (${damaged[0]!.slice(0, 12)}…)`);
      // Sent again, and never taken from the target's store, whose copy may be the damaged one.
      for (const h of damaged) notFromStore.add(h);
      await to.exec.run('rm', ['-f', '--', ...damaged.map((h) => chunkPath(incoming, h))], { signal: op.signal });
      continue;
    }
    const plan: string[] = [];
    for (const [rel, f] of Object.entries(files)) {
      plan.push(`F ${((f.mode ?? 0o600) & 0o7777).toString(8)} ${checkedRel(rel)}`);
      for (const hash of f.chunks ?? []) plan.push(`C ${where.get(hash)!}`);
    }
    op.onProgress?.({ step: 'transfer', message: 'putting the files together on the target' });
    const r = await to.exec.run('sh', ['-c', ASSEMBLE, toDir], { input: `${plan.join('\n')}\n`, signal: op.signal, allowFailure: true });
    if (r.code === 0) return { bytes: sentBytes, resumedBytes, files: Object.keys(files).length, chunksSent: sent, chunksThere: there };
    // A chunk of the target's store went between the check and the copy (its collector): the next round sends it.
    if (round >= ROUNDS) throw new BothubError('RUNTIME_FAILED', `putting the files together on the target failed: ${r.stderr.trim().split('\n').pop()}`);
  }
}

/**
 * A cold image from one host to another: by its chunks when it is in the
 * source's store (cold-images.ts) and both ends have a store on disk, else
 * its files whole, as before (sealed and GPU images, stores elsewhere).
 */
export async function shipColdImage(from: Host, fromSide: ChunkSide | undefined, dir: string, to: Host, toSide: ChunkTarget | undefined, toDir: string, op: LongOperation = {}): Promise<CopyResult> {
  const text = await from.run('cat', ['--', join(dir, COLD_MANIFEST)], { allowFailure: true, signal: op.signal });
  if (text.code !== 0) return copyTree(from, dir, to, toDir, op);
  if (!fromSide || !toSide) throw new BothubError('INVALID_STATE', 'this cold image is kept as chunks, and one end of the transfer has no chunk store on disk');
  return shipChunks(fromSide, (JSON.parse(text.stdout) as ColdManifest).files, toSide, toDir, op);
}

/** A dropped connection mid-transfer is resumed this many times. */
const TRANSFER_ATTEMPTS = 4;

/** Copies, resuming after a dropped connection: a later attempt finds what an earlier one delivered (whole files, or chunks) and does not send it again. */
export async function resuming<T extends CopyResult>(copy: () => Promise<T>, op: LongOperation, log: Logger): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await copy();
    } catch (e) {
      if (attempt >= TRANSFER_ATTEMPTS || op.signal?.aborted) throw e;
      log.warn({ err: e, attempt }, 'transfer cut off; resuming');
      op.onProgress?.({ step: 'transfer', message: `connection lost (${(e as Error).message}); resuming` });
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
