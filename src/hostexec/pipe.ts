import { PassThrough, Transform } from 'node:stream';
import type { Host } from './host.js';

export interface PipeOptions {
  signal?: AbortSignal;
  /** Called with the size of each chunk as it passes. */
  onBytes?: (n: number) => void;
  /** Written to the producer's stdin (a list of files to send, say). */
  producerInput?: string;
}

/**
 * Runs `producer` on one host with its stdout streamed, with backpressure,
 * into `consumer`'s stdin on another (either may be this machine). Either
 * side failing or the signal firing stops both, so neither waits forever.
 */
export async function pipeBetween(from: Host, producer: [string, string[]], to: Host, consumer: [string, string[]], options: PipeOptions = {}): Promise<void> {
  const both = new AbortController();
  const onAbort = () => both.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const pass = new PassThrough({ highWaterMark: 1 << 20 });
  // Counted on the way through (a 'data' listener would start the flow before the far side is ready, and lose bytes).
  const counted = pass.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, next) {
        options.onBytes?.(chunk.length);
        next(null, chunk);
      },
    }),
  );
  const fail = (e: unknown) => {
    both.abort();
    throw e;
  };
  try {
    await Promise.all([
      from
        .run(producer[0], producer[1], { stdout: pass, signal: both.signal, input: options.producerInput })
        .then(() => pass.end())
        .catch(fail),
      to.run(consumer[0], consumer[1], { stdin: counted, signal: both.signal }).catch(fail),
    ]);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    pass.destroy();
  }
}
