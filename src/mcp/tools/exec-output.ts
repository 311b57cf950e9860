import type { ApiClient, ExecResultT } from '../../api/index.js';

/** Output shown per stream in a tool result: enough to read, small enough for a model's context. */
export const SHOWN_BYTES = 64 * 1024;

export interface CutStream {
  text: string;
  shownBytes: number;
  totalBytes: number;
}

/** The first `limit` bytes of a text, ending on a whole UTF-8 character. */
export function cutText(text: string, limit = SHOWN_BYTES): CutStream {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= limit) return { text, shownBytes: buf.length, totalBytes: buf.length };
  let end = limit;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return { text: buf.subarray(0, end).toString('utf8'), shownBytes: end, totalBytes: buf.length };
}

/**
 * A foreground command's result for a model: each stream cut at SHOWN_BYTES,
 * and when anything was cut, where the whole output is kept (the exec ledger)
 * and the call that reads it from the first byte not shown.
 */
export async function execReport(api: ApiClient, sandbox: string, r: ExecResultT) {
  const stdout = cutText(r.stdout);
  const stderr = cutText(r.stderr);
  const report = {
    exitCode: r.exitCode,
    ...(r.signal !== null ? { signal: r.signal } : {}),
    ...(r.timedOut ? { timedOut: true } : {}),
    ...(r.oomKilled ? { oomKilled: true } : {}),
    durationMs: r.durationMs,
    stdout: stdout.text,
    stderr: stderr.text,
  };
  const wasCut = stdout.shownBytes < stdout.totalBytes || stderr.shownBytes < stderr.totalBytes || r.truncated;
  if (!wasCut) return report;
  const rec = await api.call('getExec', { params: { name: sandbox, id: r.id } }).catch(() => undefined);
  // In the ledger's log both streams are interleaved as written; with one stream silent, offsets match that stream's.
  const offset = stderr.totalBytes === 0 ? stdout.shownBytes : stdout.totalBytes === 0 ? stderr.shownBytes : 0;
  const streams = { stdout: { shownBytes: [0, stdout.shownBytes], totalBytes: stdout.totalBytes }, stderr: { shownBytes: [0, stderr.shownBytes], totalBytes: stderr.totalBytes } };
  const read = rec
    ? `The whole output (stdout and stderr interleaved as written, ${rec.outputBytes ?? 0} bytes) is kept as command ${rec.id}: ` +
      `call exec_log with {"sandbox": "${sandbox}", "id": "${rec.id}", "offset": ${offset}} and go on from the nextOffset it returns.`
    : 'The command is no longer in the exec ledger; run it again with its output redirected to a file, and read that with read_file.';
  return { ...report, cut: { ...streams, ...(rec ? { execId: rec.id, logBytes: rec.outputBytes } : {}), howToReadTheRest: read } };
}
