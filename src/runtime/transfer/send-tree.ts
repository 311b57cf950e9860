import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Transform } from 'node:stream';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import type { LongOperation } from '../progress.js';
import { sha256File } from '../snapshot/manifest.js';

export interface SendResult {
  bytes: number;
  /** Bytes a previous, interrupted send had already put there. */
  resumedBytes: number;
  files: number;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/**
 * Copies a directory tree (a snapshot) to `remoteDir` on another host, file by
 * file, and checks every file's sha256 there. Resumable: files the far side
 * already has in part are continued from their size, whole ones are only
 * checked, so a send cut off by a dropped connection is simply called again.
 * Progress reports bytes moved against the tree's total.
 */
export async function sendTree(host: Host, localDir: string, remoteDir: string, op: LongOperation = {}): Promise<SendResult> {
  const files: { rel: string; size: number }[] = [];
  for await (const path of walk(localDir)) files.push({ rel: relative(localDir, path), size: (await stat(path)).size });
  const total = files.reduce((n, f) => n + f.size, 0);

  await host.run('mkdir', ['-p', '--', remoteDir], { signal: op.signal });
  const listing = await host.run('find', [remoteDir, '-type', 'f', '-printf', '%P\\t%s\\n'], { signal: op.signal });
  const have = new Map(
    listing.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.lastIndexOf('\t')), Number(l.slice(l.lastIndexOf('\t') + 1))] as const),
  );

  let done = 0;
  let resumedBytes = 0;
  op.onProgress?.({ step: 'transfer', done, total });
  for (const f of files) {
    const there = have.get(f.rel) ?? 0;
    const remote = join(remoteDir, f.rel);
    const from = there <= f.size ? there : 0;
    if (there > f.size) await host.run('rm', ['-f', '--', remote], { signal: op.signal });
    resumedBytes += from;
    done += from;
    if (from < f.size || !have.has(f.rel)) {
      const source = createReadStream(join(localDir, f.rel), { start: from, highWaterMark: 1 << 20 });
      // Counted on the way through (a 'data' listener would start the flow before the channel is open, and lose bytes).
      const counted = source.pipe(
        new Transform({
          transform(chunk: Buffer, _enc, next) {
            done += chunk.length;
            op.onProgress?.({ step: 'transfer', done, total });
            next(null, chunk);
          },
        }),
      );
      try {
        // Appends: what arrived before a cut stays, and the next send starts after it.
        await host.run('sh', ['-c', 'mkdir -p -- "${0%/*}" && exec cat >> "$0"', remote], { stdin: counted, signal: op.signal });
      } finally {
        source.destroy();
      }
    }
  }

  op.onProgress?.({ step: 'verify', done: total, total });
  const sums = await host.run('sh', ['-c', 'cd -- "$0" && exec sha256sum -- "$@"', remoteDir, ...files.map((f) => f.rel)], { signal: op.signal, allowFailure: true });
  const remoteSums = new Map(
    sums.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(66), l.slice(0, 64)] as const),
  );
  const bad: string[] = [];
  for (const f of files) if (remoteSums.get(f.rel) !== (await sha256File(join(localDir, f.rel), op.signal))) bad.push(f.rel);
  if (bad.length) {
    // Damaged copies go, so the next send writes them whole.
    await host.run('rm', ['-f', '--', ...bad.map((rel) => join(remoteDir, rel))], { signal: op.signal });
    throw new BothubError('RUNTIME_FAILED', `${bad.length} file(s) arrived damaged (${bad.slice(0, 3).join(', ')}); they were removed there — send again`);
  }
  return { bytes: total - resumedBytes, resumedBytes, files: files.length };
}
