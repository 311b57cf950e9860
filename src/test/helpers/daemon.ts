import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ApiClient } from '../../api/index.js';
import { parseSubnet } from '../../core/index.js';
import { daemonConfig, type DaemonConfig } from '../../daemon/config.js';
import { daemonLogger, startDaemon, type DaemonSeams, type RunningDaemon } from '../../daemon/serve.js';
import { LocalHost } from '../../hostexec/index.js';
import { removeBridge } from '../../runtime/index.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { assertNothingLeft, bothubNetns, netnsLeftBehind } from './leftovers.js';
import { registerToken } from './cli.js';
import { sharedPostgres, testOnPostgres } from './postgres.js';
import { claimSubnet } from './claims.js';

/** Shared by every test daemon so the default image is built once per machine. */
export const TEST_IMAGES_DIR = process.env.BOTHUB_TEST_IMAGES_DIR ?? '/var/lib/bothub-test/images';

export interface TestDaemon {
  daemon: RunningDaemon;
  /** Client with the admin key. */
  api: ApiClient;
  adminKey: string;
  /** Where the daemon logs, when a test asked for a log level. */
  logFile?: string;
  /** A client with another key. */
  as(token: string | undefined): ApiClient;
  url: string;
  config: DaemonConfig;
  /** Starts the daemon again on the same data dir (a restart). */
  restart(): Promise<void>;
  /** Destroys every sandbox, stops the daemon, removes bridge and data dir, and checks nothing is left. */
  cleanup(): Promise<void>;
}

/** `seed`: files written into the fresh data dir before the daemon starts (keys another daemon made: a machine set up again). */
export async function startTestDaemon(overrides: Partial<DaemonConfig> = {}, seams: DaemonSeams = {}, seed: Record<string, string> = {}): Promise<TestDaemon> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bothub-test-'));
  for (const [name, text] of Object.entries(seed)) writeFileSync(join(dataDir, name), text, { mode: 0o600 });
  const tag = randomBytes(2).toString('hex');
  // Each test daemon gets its own bridge and subnet: tests never share a network, even files running side by side.
  const net = 'subnet' in overrides ? undefined : claimSubnet();
  // BOTHUB_TEST_DB=postgres: a database of its own on the test process's PostgreSQL server.
  const ownDatabase = testOnPostgres() && !('databaseUrl' in overrides) ? await (await sharedPostgres()).createDatabase() : undefined;
  const config: DaemonConfig = {
    ...daemonConfig({ listen: '127.0.0.1:0', dataDir }, {}),
    imagesDir: TEST_IMAGES_DIR,
    bridge: `bht${tag}`,
    ...(net ? { subnet: net.subnet } : {}),
    logLevel: process.env.BOTHUB_TEST_LOG ?? 'silent',
    // Nothing cools down by itself unless a test asks for it.
    idleWarmMs: 0,
    idleColdMs: 0,
    databaseUrl: ownDatabase,
    ...overrides,
  };
  const logFile = overrides.logLevel || process.env.BOTHUB_TEST_LOG ? `${dataDir}.log` : undefined;
  const log = logFile ? daemonLogger(config.logLevel, logFile) : pino({ level: 'silent' });
  const netnsBefore = new Set(bothubNetns());
  const t: TestDaemon = {
    daemon: await startDaemon(config, log, seams),
    api: undefined as unknown as ApiClient,
    adminKey: '',
    logFile,
    as: (token) => new ApiClient(t.url, { token }),
    url: '',
    config,
    async restart() {
      await t.daemon.close();
      t.daemon = await startDaemon({ ...config, port: Number(new URL(t.url).port) }, log, seams);
    },
    async cleanup() {
      for (const s of await t.api.call('listSandboxes').catch(() => [])) await t.api.call('destroySandbox', { params: { name: s.name } }).catch(() => undefined);
      await t.daemon.close();
      await removeBridge(new LocalHost(), { name: config.bridge, subnet: parseSubnet(config.subnet) });
      net?.release();
      if (ownDatabase) await (await sharedPostgres()).dropDatabase(ownDatabase);
      await assertNothingLeft(dataDir);
      const newNetns = await netnsLeftBehind(netnsBefore, dataDir);
      // The data dir goes either way.
      await rm(dataDir, { recursive: true, force: true });
      if (logFile) await rm(logFile, { force: true });
      if (newNetns.length) throw new Error(`test left network namespaces behind: ${newNetns.join(', ')}`);
    },
  };
  t.url = t.daemon.url;
  t.adminKey = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
  t.api = new ApiClient(t.url, { token: t.adminKey });
  registerToken(t.url, t.adminKey);
  // The default image: built here on a fresh machine (minutes, once).
  await t.daemon.ctx.images.ensureDebian();
  return t;
}
