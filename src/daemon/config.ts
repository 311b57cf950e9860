import { fileURLToPath } from 'node:url';
import { invalid, parseDuration, parseSizeMb, validateDiskMb } from '../core/index.js';
import { DataLayout, parseS3Url, type S3Location } from '../runtime/index.js';
import { parseDatabasePool, parseDatabaseUrl, parseDatabaseWait, type DatabaseTarget } from './db/database-url.js';

export interface DaemonConfig {
  host: string;
  port: number;
  /** Listen on this Unix socket instead of host:port (the fleet agent). */
  socket?: string;
  dataDir: string;
  /** PostgreSQL for the state instead of SQLite in the data dir (env BOTHUB_DATABASE_URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE). */
  databaseUrl?: string;
  /** PostgreSQL connections of this daemon (env BOTHUB_DATABASE_POOL, default 10). */
  databasePool?: number;
  /** How long a statement waits for a connection or SQLite's write lock before the request is answered 503 BUSY, ms (env BOTHUB_DATABASE_WAIT; default 10s, SQLite 5s). */
  databaseWaitMs?: number;
  /**
   * One of several daemons on one PostgreSQL database (env BOTHUB_CONTROL_PLANE_ONLY=1): it runs
   * no sandbox itself (they go to fleet hosts), takes each sandbox's lease before acting on it,
   * and runs the timers only while it holds the leader lease.
   */
  controlPlaneOnly?: boolean;
  /** Image store; tests share one across data dirs so the default image is built once. */
  imagesDir?: string;
  /** Snapshot store; defaults to <data-dir>/snapshots. */
  snapshotsDir?: string;
  /** The share of free memory a snapshot's in-memory staging may take (env BOTHUB_SNAPSHOT_STAGING_SHARE, 0–1, default 0.5; 0: stage on disk). */
  snapshotStagingShare: number;
  /** Restore with CRIU lazy pages: sandboxes run before their memory is read (env BOTHUB_LAZY_RESTORE, 1 or 0; see README "Lazy restores"). */
  lazyRestore: boolean;
  /** Bytes of chunks nothing references kept for transfers between hosts (env BOTHUB_CHUNK_CACHE_MIB, default 2048; 0 keeps none). */
  chunkCacheBytes: number;
  /** Snapshot chunks in S3-compatible storage (env BOTHUB_STORE=s3://BUCKET/PREFIX; endpoint, region and keys from the AWS SDK's variables). */
  store?: S3Location & { env: Record<string, string> };
  /** The local chunk directory's size limit when the store is in S3, MB (env BOTHUB_STORE_CACHE_MB, default 10240; 0: keep nothing). */
  storeCacheMb: number;
  /** With a store: the size limit of this machine's unpacked image layers (images/.layers), MB (env BOTHUB_LAYER_CACHE_MB, default 20480; 0: keep only what is in use). */
  layerCacheMb: number;
  /** CRIU binary; defaults to what scripts/install-criu installed. */
  criu?: string;
  subnet: string;
  bridge: string;
  debianMirror: string;
  /** Host TCP ports sandboxes may reach on the bridge address (env BOTHUB_ALLOW_HOST_PORTS, comma-separated). */
  allowedHostPorts: number[];
  initBinary: string;
  /** The NVIDIA driver's root ("/", or a driver container's mount) and its nvidia-smi. */
  nvidiaDriverRoot: string;
  nvidiaSmi: string;
  /** native/build/bothub-cuda-checkpoint, or a stand-in speaking its command line. */
  cudaCheckpoint: string;
  consoleCapBytes: number;
  authMaxFailures: number;
  /** How long each failed authentication waits before its 401 (env BOTHUB_AUTH_FAILURE_DELAY_MS, default 100). */
  authFailureDelayMs: number;
  /** Preview host names are NAME-PORT.<previewDomain>. */
  previewDomain: string;
  /** Daemon defaults for idle sandboxes, in ms; 0 disables. */
  idleWarmMs: number;
  idleColdMs: number;
  /** Writable-layer limit of a sandbox created without --disk, MB (env BOTHUB_DISK, default 10G; 0: none). */
  diskMb: number | null;
  /** How often fleet hosts are asked whether they are there, in ms; 0 disables. */
  heartbeatMs: number;
  /** How often rented hosts' spend is metered and idle ones released (reconciling with providers: every 10th); 0 disables. */
  rentTickMs: number;
  /** How long a plain HTTP request waits for its parked sandbox to be placed before it is answered BUSY (the placing goes on), in ms (env BOTHUB_PLACE_WAIT, default 50s). */
  placeWaitMs: number;
  logLevel: string;
  /** Origins (host names or URLs) a browser may call /mcp from, besides the daemon's own (env BOTHUB_MCP_ORIGINS, comma-separated). */
  mcpOrigins?: string[];
  /** The built web dashboard served at / (env BOTHUB_WEB_DIR; default the package's web/dist). */
  webDir: string;
}

export const DEFAULT_LISTEN = '127.0.0.1:7070';
export const DEFAULT_DATA_DIR = '/var/lib/bothub';

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw invalid(`invalid --listen "${listen}": use HOST:PORT, such as 127.0.0.1:7070`);
  return { host: m[1] ?? m[2]!, port };
}

function stagingShare(value: string | undefined): number {
  const share = Number(value ?? 0.5);
  if (!Number.isFinite(share) || share < 0 || share > 1) throw invalid(`invalid BOTHUB_SNAPSHOT_STAGING_SHARE "${value}": use a fraction of free memory from 0 to 1, such as 0.5`);
  return share;
}

function lazyRestore(value: string | undefined): boolean {
  if (value === undefined || value === '') return LAZY_RESTORE_DEFAULT;
  if (value !== '0' && value !== '1') throw invalid(`invalid BOTHUB_LAZY_RESTORE "${value}": use 1 (restore memory lazily) or 0 (read it all first)`);
  return value === '1';
}

/** Off: state does not yet survive lazy restores reliably here (README "Lazy restores" says what was seen). */
const LAZY_RESTORE_DEFAULT = false;

function chunkCacheBytes(value: string | undefined): number {
  const mib = Number(value ?? 2048);
  if (!Number.isInteger(mib) || mib < 0) throw invalid(`invalid BOTHUB_CHUNK_CACHE_MIB "${value}": use a whole number of MiB, such as 2048 (0 keeps no cache)`);
  return mib * 1024 * 1024;
}

/** The AWS SDK's own variables (endpoint, region, keys, profile), as the S3 client is to read them. */
function awsEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[0].startsWith('AWS_') && e[1] !== undefined));
}

function cacheMb(variable: string, value: string | undefined, fallback: number): number {
  const mb = Number(value ?? fallback);
  if (!Number.isInteger(mb) || mb < 0) throw invalid(`invalid ${variable} "${value}": use a whole number of MB, such as ${fallback} (0: cache nothing)`);
  return mb;
}

/** Defaults, then the environment, then flags: the usual order of precedence. */
export function daemonConfig(flags: { listen?: string; dataDir?: string }, env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  const { host, port } = parseListen(flags.listen ?? env.BOTHUB_LISTEN ?? DEFAULT_LISTEN);
  return {
    host,
    port,
    dataDir: flags.dataDir ?? env.BOTHUB_DATA_DIR ?? DEFAULT_DATA_DIR,
    databaseUrl: env.BOTHUB_DATABASE_URL ? parseDatabaseUrl(env.BOTHUB_DATABASE_URL) : undefined,
    databasePool: parseDatabasePool(env.BOTHUB_DATABASE_POOL),
    databaseWaitMs: parseDatabaseWait(env.BOTHUB_DATABASE_WAIT),
    controlPlaneOnly: controlPlaneOnly(env),
    imagesDir: env.BOTHUB_IMAGES_DIR || undefined,
    snapshotsDir: env.BOTHUB_SNAPSHOTS_DIR || undefined,
    snapshotStagingShare: stagingShare(env.BOTHUB_SNAPSHOT_STAGING_SHARE),
    lazyRestore: lazyRestore(env.BOTHUB_LAZY_RESTORE),
    chunkCacheBytes: chunkCacheBytes(env.BOTHUB_CHUNK_CACHE_MIB),
    store: env.BOTHUB_STORE ? { ...parseS3Url(env.BOTHUB_STORE), env: awsEnv(env) } : undefined,
    storeCacheMb: cacheMb('BOTHUB_STORE_CACHE_MB', env.BOTHUB_STORE_CACHE_MB, 10240),
    layerCacheMb: cacheMb('BOTHUB_LAYER_CACHE_MB', env.BOTHUB_LAYER_CACHE_MB, 20480),
    criu: env.BOTHUB_CRIU || undefined,
    subnet: env.BOTHUB_SUBNET ?? '10.77.0.0/16',
    bridge: env.BOTHUB_BRIDGE ?? 'bothub0',
    debianMirror: env.BOTHUB_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian',
    allowedHostPorts: (env.BOTHUB_ALLOW_HOST_PORTS ?? '')
      .split(',')
      .filter(Boolean)
      .map(Number)
      .filter((p) => Number.isInteger(p) && p > 0 && p < 65536),
    initBinary: env.BOTHUB_INIT ?? fileURLToPath(new URL('../../native/build/bothub-init', import.meta.url)),
    nvidiaDriverRoot: env.BOTHUB_NVIDIA_DRIVER_ROOT ?? '/',
    nvidiaSmi: env.BOTHUB_NVIDIA_SMI ?? 'nvidia-smi',
    cudaCheckpoint: env.BOTHUB_CUDA_CHECKPOINT ?? fileURLToPath(new URL('../../native/build/bothub-cuda-checkpoint', import.meta.url)),
    consoleCapBytes: Number(env.BOTHUB_CONSOLE_CAP_BYTES ?? 8 * 1024 * 1024),
    authMaxFailures: Number(env.BOTHUB_AUTH_MAX_FAILURES ?? 10),
    authFailureDelayMs: Number(env.BOTHUB_AUTH_FAILURE_DELAY_MS ?? 100),
    previewDomain: env.BOTHUB_PREVIEW_DOMAIN ?? 'localhost',
    idleWarmMs: parseDuration(env.BOTHUB_IDLE_WARM ?? '5m'),
    idleColdMs: parseDuration(env.BOTHUB_IDLE_COLD ?? '30m'),
    heartbeatMs: parseDuration(env.BOTHUB_HEARTBEAT ?? '15s'),
    rentTickMs: parseDuration(env.BOTHUB_RENT_TICK ?? '30s'),
    placeWaitMs: parseDuration(env.BOTHUB_PLACE_WAIT ?? '50s'),
    diskMb: parseDiskDefault(env.BOTHUB_DISK ?? '10G'),
    logLevel: env.BOTHUB_LOG_LEVEL ?? 'info',
    mcpOrigins: (env.BOTHUB_MCP_ORIGINS ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    webDir: env.BOTHUB_WEB_DIR || fileURLToPath(new URL('../../web/dist', import.meta.url)),
  };
}

/** Several daemons share one database: PostgreSQL, never a SQLite file only one process can use. */
function controlPlaneOnly(env: NodeJS.ProcessEnv): boolean {
  const on = ['1', 'true', 'yes'].includes((env.BOTHUB_CONTROL_PLANE_ONLY ?? '').toLowerCase());
  if (on && !env.BOTHUB_DATABASE_URL)
    throw invalid('BOTHUB_CONTROL_PLANE_ONLY needs BOTHUB_DATABASE_URL=postgres://...: the daemons share their state in one PostgreSQL database');
  return on;
}

/** BOTHUB_DISK: a size such as 10G, or 0 for sandboxes whose writable layer shares the data dir's disk. */
function parseDiskDefault(text: string): number | null {
  const mb = parseSizeMb(text, 'BOTHUB_DISK');
  return mb === 0 ? null : validateDiskMb(mb, 'BOTHUB_DISK');
}

/** The state database: PostgreSQL when BOTHUB_DATABASE_URL names one, else SQLite in the data dir. */
export function databaseTarget(config: Pick<DaemonConfig, 'dataDir' | 'databaseUrl' | 'databasePool' | 'databaseWaitMs'>): DatabaseTarget {
  const waitMs = config.databaseWaitMs;
  return config.databaseUrl ? { kind: 'postgres', url: config.databaseUrl, pool: config.databasePool, waitMs } : { kind: 'sqlite', file: new DataLayout(config.dataDir).db, waitMs };
}
