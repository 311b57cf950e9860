import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import pino from 'pino';
import { ApiClient } from '../../api/index.js';
import { daemonConfig, type DaemonConfig } from '../../daemon/config.js';
import { daemonLogger, startDaemon, type DaemonSeams, type RunningDaemon } from '../../daemon/serve.js';
import type { ImageInfo } from '../../runtime/index.js';
import { registerToken } from './cli.js';
import { FakeCheckpointer, FakeRuntime } from './fake-runtime.js';

/**
 * A daemon built on the fake runtime (fake-runtime.ts): real routes,
 * validation, access rules, services and SQLite, but no runc, CRIU, mounts,
 * bridge or root. Requests go in-process through Fastify's inject(); the
 * daemon also listens on a loopback port, for the CLI's own process.
 */
export interface InjectDaemon {
  daemon: RunningDaemon;
  runtime: FakeRuntime;
  config: DaemonConfig;
  adminKey: string;
  /** The admin's typed client, in-process. */
  api: ApiClient;
  /** A typed client with another key (or none), in-process. */
  as(token: string | undefined): ApiClient;
  /** A fetch-like request to the app by path, in-process; `token` adds a Bearer header. */
  request(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  /** For the CLI, which runs in a process of its own. */
  url: string;
  cleanup(): Promise<void>;
}

/** fetch over Fastify's inject(): the same Request in, the same Response out, no socket. */
export function injectFetch(app: FastifyInstance): typeof fetch {
  return async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input), 'http://inject');
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const body = init.body as unknown;
    const payload: InjectOptions['payload'] =
      body === undefined || body === null ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : body instanceof Uint8Array ? Buffer.from(body) : undefined;
    if (body != null && payload === undefined) throw new TypeError('injectFetch: give the body as a string or bytes');
    const res = await app.inject({ method: (init.method ?? 'GET') as InjectOptions['method'], url: url.pathname + url.search, headers, payload });
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : String(v));
    const empty = res.statusCode === 204 || res.statusCode === 304 || init.method === 'HEAD';
    return new Response(empty ? null : new Uint8Array(res.rawPayload), { status: res.statusCode, headers: out });
  };
}

/** The default image, as a record and an empty root: the fake runtime never looks inside it. */
async function fakeDebianImage(imagesDir: string): Promise<void> {
  const dir = join(imagesDir, 'debian');
  await mkdir(join(dir, 'rootfs', 'etc'), { recursive: true });
  const info: ImageInfo = { name: 'debian', source: 'debootstrap', sizeBytes: 4096, createdAt: new Date().toISOString(), owner: null };
  await writeFile(join(dir, 'image.json'), JSON.stringify(info));
}

export async function startInjectDaemon(overrides: Partial<DaemonConfig> = {}, seams: DaemonSeams = {}): Promise<InjectDaemon> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bothub-inject-'));
  const imagesDir = join(dataDir, 'images');
  await fakeDebianImage(imagesDir);
  const config: DaemonConfig = {
    ...daemonConfig({ listen: '127.0.0.1:0', dataDir }, {}),
    imagesDir,
    logLevel: process.env.BOTHUB_TEST_LOG ?? 'silent',
    idleWarmMs: 0,
    idleColdMs: 0,
    ...overrides,
  };
  const log = process.env.BOTHUB_TEST_LOG ? daemonLogger(config.logLevel, `${dataDir}.log`) : pino({ level: 'silent' });
  let runtime: FakeRuntime | undefined;
  const daemon = await startDaemon(config, log, {
    ...seams,
    runtime: (host, runtimeConfig, _criu, runtimeLog) => {
      runtime = new FakeRuntime(host, runtimeConfig, runtimeLog);
      return { runtime, checkpointer: new FakeCheckpointer(host, runtime, runtimeLog) };
    },
  }).catch(async (e: unknown) => {
    // A start refused on purpose (a bad setting under test) leaves no data dir behind.
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  });
  const fetch = injectFetch(daemon.app);
  const adminKey = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
  const as = (token: string | undefined) => new ApiClient('http://inject', { token, fetch });
  registerToken(daemon.url, adminKey);
  return {
    daemon,
    runtime: runtime!,
    config,
    adminKey,
    api: as(adminKey),
    as,
    request: (path, init = {}) => fetch(path, { ...init, headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.headers as Record<string, string>) } }),
    url: daemon.url,
    async cleanup() {
      await daemon.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
