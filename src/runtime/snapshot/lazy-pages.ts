import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { BothubError } from '../../core/index.js';
import { isFileError, type Host, type RunResult } from '../../hostexec/index.js';
import { servePages, type LazyPageSource } from './page-server.js';

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

/** Where the memory of a restore that reads no pages image comes from (lazy-page-source.ts), and who guards it. */
export interface PageServing {
  pages: LazyPageSource;
  /** native/build/bothub-lazy-guard: kills the sandbox if the page source fails (see its main.c). */
  guard: string;
  runcRoot: string;
  container: string;
}

/** native/build's, beside this module's build (a fleet agent's release carries both). */
export const LAZY_GUARD = fileURLToPath(new URL('../../../native/build/bothub-lazy-guard', import.meta.url));

/** The guard's socket, in the work directory (root's alone): the page server connects there, and nobody else can. */
const PAGE_SERVER_SOCKET = 'page-server.sock';

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
 *
 * With `serving`, the pages images hold only the pages the restore reads
 * itself, and CRIU asks this process's page server for the rest, through
 * bothub-lazy-guard. The page server lives in this process, so here the
 * guard is what ends the sandbox if this process dies before every page is in.
 */
export async function startLazyPages(host: Host, criu: string, imagesDir: string, workDir: string, serving?: PageServing): Promise<LazyTail> {
  const stopper = new AbortController();
  let ready!: () => void;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  const args = ['lazy-pages', '--images-dir', imagesDir, '--work-dir', workDir, '--log-file', LAZY_PAGES_LOG, '-v4', '--status-fd', '1'];
  const socketPath = join(workDir, PAGE_SERVER_SOCKET);
  // CRIU writes one byte to its status fd once it listens: stdout here.
  const run = serving
    ? host.run(serving.guard, [socketPath, serving.runcRoot, serving.container, '--', criu, ...args, '--page-server', '--ps-socket', '3'], {
        signal: stopper.signal,
        onStdout: () => ready(),
      })
    : host.run(criu, args, { signal: stopper.signal, onStdout: () => ready() });
  let serverFailure: Error | undefined;
  let served: Promise<void> = Promise.resolve();
  const reason = async (e: unknown) => serverFailure?.message ?? (await lazyPagesReason(host, workDir, e));
  // The server has answered CRIU's last words by the time CRIU exits 0: `served` is settled then.
  const pagesIn = run
    .then(() => served)
    .catch(async (e: unknown) => {
      throw new BothubError('RUNTIME_FAILED', `the lazy page source stopped before every page was in (${await reason(e)})`, { cause: e });
    });
  pagesIn.catch(() => undefined); // handled by whoever holds it; never unhandled meanwhile
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BothubError('RUNTIME_FAILED', `criu lazy-pages did not start listening in ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
  });
  try {
    if (serving) {
      const socket = await connectToGuard(host, socketPath, run);
      served = servePages(socket, serving.pages).catch((e: unknown) => {
        serverFailure = e as Error;
        throw e;
      });
      served.catch(() => undefined); // heard through pagesIn: CRIU fails, and so does the guard's run
    }
    await Promise.race([listening, pagesIn.then(() => Promise.reject(new BothubError('RUNTIME_FAILED', 'criu lazy-pages exited before it listened'))), timeout]);
  } catch (e) {
    stopper.abort();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return { pagesIn, stop: () => stopper.abort() };
}

/** How long a guard may take to listen (a static binary: milliseconds). */
const CONNECT_TIMEOUT_MS = 5_000;

/** The page server's end of the guard's socket, once the guard listens (retried until then, unless the guard ended). */
async function connectToGuard(host: Host, path: string, guard: Promise<RunResult>): Promise<Duplex> {
  let ended = false;
  guard.then(
    () => (ended = true),
    () => (ended = true),
  );
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  for (;;) {
    try {
      return await host.openSocket(path);
    } catch (e) {
      if (!isFileError(e, 'ENOENT', 'ECONNREFUSED') || ended || Date.now() > deadline)
        throw new BothubError('RUNTIME_FAILED', `could not connect to the lazy-pages guard at ${path} (${(e as Error).message})`, { cause: e });
    }
    await sleep(2);
  }
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
