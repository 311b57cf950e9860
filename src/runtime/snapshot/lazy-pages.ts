import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';

/** What CRIU's lazy-pages daemon logs into the work directory it shares with the restore. */
export const LAZY_PAGES_LOG = 'lazy-pages.log';

/** How long the daemon may take to listen before the restore is given up (it starts in milliseconds). */
const READY_TIMEOUT_MS = 10_000;

/**
 * A restore whose memory is still streaming in: the sandbox runs already,
 * and every page it has not touched yet is read from the snapshot behind it.
 */
export interface LazyTail {
  /** Resolves once every page is in and the page daemon has exited; rejects with why, if it died first. */
  pagesIn: Promise<void>;
  /** Ends the page daemon (a restore that failed before the sandbox ran). */
  stop: () => void;
}

/**
 * CRIU's lazy-pages daemon (`criu lazy-pages`): it listens on
 * `lazy-pages.socket` in `workDir`, where `criu restore --lazy-pages` (runc's
 * `restore --lazy-pages`, whose CRIU runs in the same work directory)
 * connects and hands it a userfaultfd per restored process. It serves each
 * page on its first touch from `imagesDir`'s page images, then copies in the
 * rest in the background and exits 0 once every page is in. Until then the
 * images must stay; if it dies sooner, untouched pages would read as zeros,
 * so whoever holds `pagesIn` must kill the sandbox on a rejection.
 *
 * It runs without a parent-death signal on purpose: if the bothub daemon
 * restarts meanwhile, the transfer still completes and the sandbox is found
 * running (its images are kept open by the page daemon, so removing them
 * does not cut it short).
 */
export async function startLazyPages(host: Host, criu: string, imagesDir: string, workDir: string): Promise<LazyTail> {
  const stopper = new AbortController();
  let ready!: () => void;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  // CRIU writes one byte to its status fd once it listens: stdout here.
  const run = host.run(criu, ['lazy-pages', '--images-dir', imagesDir, '--work-dir', workDir, '--log-file', LAZY_PAGES_LOG, '-v4', '--status-fd', '1'], {
    signal: stopper.signal,
    onStdout: () => ready(),
  });
  const pagesIn = run.then(
    () => undefined,
    async (e: unknown) => {
      throw new BothubError('RUNTIME_FAILED', `the lazy page source stopped before every page was in (${await lazyPagesReason(host, workDir, e)})`, { cause: e });
    },
  );
  pagesIn.catch(() => undefined); // handled by whoever holds it; never unhandled meanwhile
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BothubError('RUNTIME_FAILED', `criu lazy-pages did not start listening in ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
  });
  try {
    await Promise.race([listening, pagesIn.then(() => Promise.reject(new BothubError('RUNTIME_FAILED', 'criu lazy-pages exited before it listened'))), timeout]);
  } catch (e) {
    stopper.abort();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return { pagesIn, stop: () => stopper.abort() };
}

/** The useful line of a failed page daemon: its own last error, else how it ended. */
async function lazyPagesReason(host: Host, workDir: string, e: unknown): Promise<string> {
  const log = await host.readTextFile(join(workDir, LAZY_PAGES_LOG)).catch(() => '');
  const errors = log.split('\n').filter((l) => /Error \(/.test(l));
  if (errors.length) return errors.at(-1)!.replace(/^\([\d.]+\)\s*/, '');
  const code = (e as { result?: { code?: number } }).result?.code;
  if (e instanceof BothubError && e.code === 'ABORTED') return 'it was stopped';
  return code !== undefined ? `criu lazy-pages exited with ${code}${code >= 128 ? ' (killed by a signal)' : ''}` : String(e);
}
