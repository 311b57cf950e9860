import type { CallOptions } from './deadline.js';
import type { Transport } from './transport.js';

/** Bytes of a log from an offset, and where to read next. */
export interface LogChunk {
  data: Uint8Array;
  /** Where `data` starts (later than asked when the log was trimmed). */
  offset: number;
  /** Where the next read starts. */
  nextOffset: number;
  text(): string;
}

export interface LogReadOptions extends CallOptions {
  /** Byte offset to read from (default 0). */
  offset?: number;
  /** At most this many bytes (the daemon's default: 1 MiB). */
  limit?: number;
}

type LogRoute = 'logs' | 'execLogs';

/** One read of a log by byte offset (X-Bothub-Offset / X-Bothub-Next-Offset). */
export async function readLog(transport: Transport, route: LogRoute, params: object, opts: LogReadOptions = {}): Promise<LogChunk> {
  const { data, headers } = await transport.bytes(route, { params, query: { offset: opts.offset, limit: opts.limit } }, opts);
  const offset = Number(headers.get('x-bothub-offset') ?? opts.offset ?? 0);
  const nextOffset = Number(headers.get('x-bothub-next-offset') ?? offset + data.length);
  return { data, offset, nextOffset, text: () => new TextDecoder().decode(data) };
}

/**
 * A log followed live: chunks as they are written, ending when its writer is
 * gone (the command ended, the sandbox stopped). No deadline unless given.
 */
export function followLog(transport: Transport, route: LogRoute, params: object, opts: LogReadOptions = {}): AsyncGenerator<Uint8Array> {
  return transport.stream(route, { params, query: { offset: opts.offset, follow: true } }, opts);
}
