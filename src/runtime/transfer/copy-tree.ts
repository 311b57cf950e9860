import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import { pipeBetween, type Host } from '../../hostexec/index.js';
import type { LongOperation } from '../progress.js';

export interface CopyResult {
  bytes: number;
  /** Bytes a previous, interrupted copy had already put there. */
  resumedBytes: number;
  files: number;
}

/** Regular files under `dir`: relative path → size and permission bits (octal). */
async function listFiles(host: Host, dir: string, signal?: AbortSignal): Promise<Map<string, { size: number; mode: string }>> {
  const listing = await host.run('find', [dir, '-type', 'f', '-printf', '%m\\t%s\\t%P\\n'], { signal });
  return new Map(
    listing.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [mode, size, ...rel] = l.split('\t');
        return [rel.join('\t'), { size: Number(size), mode: mode! }] as const;
      }),
  );
}

/** sha256 of each file, computed where the files are. */
async function sums(host: Host, dir: string, rels: string[], signal?: AbortSignal): Promise<Map<string, string>> {
  const r = await host.run('sh', ['-c', 'cd -- "$0" && exec sha256sum -- "$@"', dir, ...rels], { signal, allowFailure: true });
  return new Map(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(66), l.slice(0, 64)] as const),
  );
}

/**
 * Copies a directory tree (a snapshot, a cold sandbox) from one host to
 * another, streaming through this process; either side may be this machine or
 * a fleet host. Every file's sha256 is checked on both sides.
 *
 * The files the target lacks go in one tar stream: a command on a fleet host
 * costs a round trip and a login shell, which file by file cost more than the
 * bytes. Resumable: tar writes each file front to back, so a copy cut off by a
 * dropped connection leaves whole files and at most one part of a file, which
 * the next call continues from its size.
 */
export async function copyTree(from: Host, fromDir: string, to: Host, toDir: string, op: LongOperation = {}): Promise<CopyResult> {
  const source = await listFiles(from, fromDir, op.signal);
  const files = [...source].map(([rel, f]) => ({ rel, ...f }));
  const total = files.reduce((n, f) => n + f.size, 0);
  await to.run('mkdir', ['-p', '--', toDir], { signal: op.signal });
  const have = await listFiles(to, toDir, op.signal);

  const isStarted = (f: (typeof files)[number]) => (have.get(f.rel)?.size ?? 0) > 0 && have.get(f.rel)!.size <= f.size;
  const started = files.filter(isStarted);
  const missing = files.filter((f) => !isStarted(f));
  const resumedBytes = started.reduce((n, f) => n + have.get(f.rel)!.size, 0);
  let done = resumedBytes;
  const onBytes = (n: number) => {
    done = Math.min(total, done + n); // tar's headers count too
    op.onProgress?.({ step: 'transfer', done, total });
  };
  op.onProgress?.({ step: 'transfer', done, total });
  if (missing.length)
    await pipeBetween(from, ['tar', ['-C', fromDir, '-cf', '-', '--null', '--verbatim-files-from', '-T', '-']], to, ['tar', ['-C', toDir, '-xf', '-', '--same-permissions']], {
      signal: op.signal,
      onBytes,
      producerInput: missing.map((f) => `${f.rel}\0`).join(''),
    });
  for (const f of started) {
    const start = have.get(f.rel)!.size;
    if (start === f.size) continue; // checked with the rest below
    // Appends: what arrived before a cut stays, and the next copy starts after it.
    await pipeBetween(from, ['tail', ['-c', `+${start + 1}`, '--', join(fromDir, f.rel)]], to, ['sh', ['-c', 'exec cat >> "$0"', join(toDir, f.rel)]], {
      signal: op.signal,
      onBytes,
    });
  }

  // Modes too: CRIU refuses to reopen a file whose mode differs from the dumped one.
  // tar set them on what it wrote whole; a file it was cut off in may have none yet.
  const byMode = new Map<string, string[]>();
  for (const f of started) byMode.set(f.mode, [...(byMode.get(f.mode) ?? []), f.rel]);
  for (const [mode, rels] of byMode) await to.run('sh', ['-c', 'cd -- "$0" && m=$1 && shift && exec chmod "$m" -- "$@"', toDir, mode, ...rels], { signal: op.signal });

  op.onProgress?.({ step: 'verify', done: total, total });
  const rels = files.map((f) => f.rel);
  const [want, got] = await Promise.all([sums(from, fromDir, rels, op.signal), sums(to, toDir, rels, op.signal)]);
  const bad = rels.filter((rel) => !want.get(rel) || want.get(rel) !== got.get(rel));
  if (bad.length) {
    // Damaged copies go, so the next copy writes them whole.
    await to.run('rm', ['-f', '--', ...bad.map((rel) => join(toDir, rel))], { signal: op.signal });
    throw new BothubError('RUNTIME_FAILED', `${bad.length} file(s) arrived damaged (${bad.slice(0, 3).join(', ')}); they were removed there — copy again`);
  }
  return { bytes: total - resumedBytes, resumedBytes, files: files.length };
}
