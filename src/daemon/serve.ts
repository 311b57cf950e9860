import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { parseSubnet } from '../core/index.js';
import { LocalHost, type Host } from '../hostexec/index.js';
import { join } from 'node:path';
import type { HostFingerprint } from '../core/index.js';
import { Checkpointer, criuBinary, CudaHelper, DataLayout, ensureBridge, hostFingerprint, ImageStore, probeGpus, SandboxRuntime, type GpuTools, type RuntimeConfig } from '../runtime/index.js';
import { databaseTarget, type DaemonConfig } from './config.js';
import type { DaemonContext } from './context.js';
import { openDatabase, type Db } from './db/database.js';
import { buildApp } from './http/app.js';
import { ConsoleLogs } from './services/console-logs.js';
import { ExecService } from './services/exec-service.js';
import { ExecLedger } from './services/exec-ledger.js';
import { FileService } from './services/file-service.js';
import { HostService } from './fleet/host-service.js';
import { wireRentals } from './rent/wire.js';
import { SandboxService } from './services/sandbox-service.js';
import { SandboxRecords } from './services/sandbox-records.js';
import { userRemover } from './services/user-removal.js';
import { imageUsers } from './services/image-users.js';
import { SnapshotService } from './services/snapshot-service.js';
import { doctor } from './services/doctor.js';
import { ConsistencyChecker } from './services/consistency.js';
import { recoverCutShortSnapshots } from './services/snapshot-recovery.js';
import { SecretService } from './services/secret-service.js';
import { RegistryCredentialService } from './services/registry-credentials.js';
import { ImageSaveService } from './services/image-save-service.js';
import { UserService } from './services/user-service.js';
import { Sealer } from './security/master-key.js';
import { EventLog } from './services/event-log.js';
import { recordSandboxChange } from './services/sandbox-events.js';
import { ShareService } from './services/share-service.js';
import { StatsService } from './services/stats-service.js';
import { WebSessions } from './services/web-sessions.js';
import { ThermalService } from './services/thermal-service.js';
import { LazyRestores } from './services/lazy-restores.js';
import { ChunkCache } from './services/chunk-cache.js';
import { ColdImages } from './services/cold-images.js';
import { PublishService, type PreviewConfig } from './services/publish-service.js';
import { SYSTEM, type Clock } from '../core/index.js';
import { ImportService } from './fleet/import-service.js';
import { chunkDirOf, chunkStoreBackend } from './services/chunk-store-backend.js';
import { MoveService } from './fleet/move-service.js';
import { MoveJournal } from './fleet/move-journal.js';
import { recoverMoves } from './fleet/move-recovery.js';
import { RemoteSandboxes } from './fleet/remote-sandboxes.js';
import { HostSnapshots } from './fleet/host-snapshots.js';
import { KeptSnapshotCopy } from './fleet/kept-snapshot-copy.js';
import { mirrorAgentSandboxes } from './fleet/sandbox-mirror.js';
import { ApiClient } from '../api/index.js';
import { mcpOriginHosts, registerMcpRoute } from '../mcp/index.js';
import { wireCluster } from './cluster/wire.js';
import { imageBringer, SharedImages, storeIdOf } from './fleet/shared-images.js';

export interface RunningDaemon {
  url: string;
  ctx: DaemonContext;
  /** For tests that check what the records or the runtime hold; handlers see only ctx. */
  db: Db;
  runtime: SandboxRuntime;
  /** The HTTP app, for tests that call it in-process (`app.inject`). */
  app: FastifyInstance;
  /** Stops serving. Sandboxes keep running; a later start finds them again. */
  close(): Promise<void>;
}

const RECONCILE_EVERY_MS = 5000;

export async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Structured logs; credentials and secret values are never written out. */
export const daemonLogger = (level: string, file?: string): Logger =>
  pino(
    { level, redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.value', '*.key', '*.env', 'body.value'], censor: '[redacted]' } },
    file ? pino.destination({ dest: file, sync: true }) : undefined,
  );

/** What a test may put in place of the real thing. */
export interface DaemonSeams {
  /** What idle sandboxes and share links measure time by. */
  clock?: Clock;
  /**
   * In place of runc, CRIU and the bridge, for tests that need no root
   * (src/test/helpers/fake-runtime.ts): the runtime and its checkpointer.
   * No bridge is set up with it.
   */
  runtime?: (host: Host, config: RuntimeConfig, criu: string, log: Logger) => { runtime: SandboxRuntime; checkpointer: Checkpointer };
}

function realRuntime(host: Host, config: RuntimeConfig, criu: string, log: Logger, gpu: GpuTools): { runtime: SandboxRuntime; checkpointer: Checkpointer } {
  const runtime = new SandboxRuntime(host, config, log);
  return { runtime, checkpointer: new Checkpointer(host, runtime, criu, log, gpu) };
}

export async function startDaemon(config: DaemonConfig, log: Logger = daemonLogger(config.logLevel), seams: DaemonSeams = {}): Promise<RunningDaemon> {
  const host = new LocalHost();
  const layout = new DataLayout(config.dataDir, config.imagesDir);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await Promise.all([layout.sandboxesDir, layout.runcRoot].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
  // Read first: a key file or a database that cannot be used stops the start before anything is set up.
  const sealer = await Sealer.load(join(config.dataDir, 'master.key'));
  const db = await openDatabase(databaseTarget(config), log);
  const cluster = wireCluster({ db, shared: config.controlPlaneOnly === true, log });
  // Destroyed sandboxes' files are deleted in the background: a daemon that died meanwhile finishes here.
  await rm(layout.trashDir, { recursive: true, force: true });
  const subnet = parseSubnet(config.subnet);
  if (!seams.runtime) await ensureBridge(host, { name: config.bridge, subnet, allowedHostPorts: config.allowedHostPorts });

  const runtimeConfig: RuntimeConfig = { layout, initBinary: config.initBinary, bridgeName: config.bridge, subnet, nvidiaDriverRoot: config.nvidiaDriverRoot };
  // With the store in S3 (and not on a fleet agent): images shared through the database, the layers here a bounded cache (made once the snapshot store is).
  let sharedImages: SharedImages | undefined = undefined;
  const images = new ImageStore(host, layout.imagesDir, config.debianMirror, () => sharedImages);
  await images.init();
  const users = new UserService(db, log);
  await users.ensureAdmin(join(config.dataDir, 'admin.key'));
  const secrets = new SecretService(db, sealer);
  const registries = new RegistryCredentialService(db, sealer);
  const criu = await criuBinary(host, config.criu);
  const cuda = existsSync(config.cudaCheckpoint) ? new CudaHelper(host, config.cudaCheckpoint) : null;
  const { runtime, checkpointer } = seams.runtime?.(host, runtimeConfig, criu, log) ?? realRuntime(host, runtimeConfig, criu, log, { helper: cuda, nvidiaSmi: config.nvidiaSmi });
  const events = new EventLog(db);
  const preview: PreviewConfig = { domain: config.previewDomain, authority: `${config.host}:${config.port}` };
  const publish = new PublishService(db, events, preview);
  let fingerprint: Promise<HostFingerprint> | undefined;
  // Fixed facts are probed once; the GPUs' memory in use is read fresh each time (the gate compares it).
  const localFingerprint = async (): Promise<HostFingerprint> => {
    const fp = await (fingerprint ??= hostFingerprint(host, criu, config.nvidiaSmi));
    return fp.gpu ? { ...fp, gpu: await probeGpus(host, config.nvidiaSmi) } : fp;
  };
  const ledger = new ExecLedger(db);
  // Some services call each other both ways (a heartbeat updates the records; a stop discards
  // a cold sandbox's state, and thermal acts on sandboxes): those calls are closures over
  // services made further down, run only once the daemon is up.
  const hosts: HostService = new HostService({
    db,
    sealer,
    localFingerprint: localFingerprint,
    heartbeatMs: config.heartbeatMs,
    dataDir: config.dataDir,
    onAgentSandboxes: (name, list): Promise<void> => mirrorAgentSandboxes(db, records, name, list),
    log,
  });
  // A rented host takes a new sandbox only within its owner's price limit (the rent services are made further down).
  const bringImage = imageBringer(images, () => sharedImages, () => snapshots.chunks);
  const fleet = new RemoteSandboxes(hosts, db, cluster.shared, (host, ownerId) => rent.rentService.admit(host, ownerId), bringImage);
  const records = new SandboxRecords({ db, urlsOf: (rows) => publish.urlsOfEach(rows), unreachable: () => fleet.unreachable(), onChange: recordSandboxChange(events, log) });
  const sandboxes = new SandboxService({
    db,
    runtime,
    images,
    secrets,
    records,
    fleet,
    discardCold: (id): Promise<void> => thermal.discard(id),
    subnet,
    capacity: { cpus: cpus().length, memoryMb: Math.floor(totalmem() / 1024 / 1024) },
    gpus: () => probeGpus(host, config.nvidiaSmi),
    diskMb: config.diskMb,
    lock: cluster.lock,
    log,
  });
  const lazy = new LazyRestores({ enabled: config.lazyRestore, db, runtime, sandboxes, events, log });
  const thermal: ThermalService = new ThermalService({
    db,
    sandboxes,
    runtime,
    checkpointer,
    events,
    dir: join(config.dataDir, 'cold'),
    defaults: { idleWarmMs: config.idleWarmMs, idleColdMs: config.idleColdMs },
    deriveKey: (purpose) => sealer.deriveKey(purpose),
    log,
    clock: seams.clock,
    lazy,
    coldImages: () => coldImages,
  });
  const imports = new ImportService({ sandboxes, checkpointer, runtime, images, ledger, host, dataDir: config.dataDir });
  await ledger.loseForeground();
  const snapshotsDir = config.snapshotsDir ?? join(config.dataDir, 'snapshots');
  const snapshots = new SnapshotService({
    // A fleet agent keeps its chunks to itself: the store in S3 is the control plane's.
    backend: await chunkStoreBackend({ dir: chunkDirOf(snapshotsDir), host, s3: config.socket ? undefined : config.store, env: config.store?.env, cacheLimitBytes: config.storeCacheMb * 2 ** 20, log }),
    db,
    host,
    sandboxes,
    runtime,
    checkpointer,
    dir: snapshotsDir,
    stagingDir: join(config.dataDir, 'snapshot-staging'),
    stagingShare: config.snapshotStagingShare,
    fingerprint: localFingerprint,
    deriveKey: (purpose) => sealer.deriveKey(purpose),
    ledger,
    log,
    lazy,
    elsewhere: new HostSnapshots({ db, sandboxes, fleet, copies: (): KeptSnapshotCopy => keptCopies, log }),
    imageHere: (image) => (sharedImages ? images.require(image) : Promise.resolve()),
  });
  await recoverCutShortSnapshots({ db, runtime, sandboxes, host, snapshotsDir: snapshots.dir, stagingDir: join(config.dataDir, 'snapshot-staging'), coldDir: (id) => thermal.coldDir(id), log });
  await snapshots.init();
  sharedImages = config.store && !config.socket ? new SharedImages({ db, images, archives: snapshots.chunks.layers, store: snapshots.chunks.store, storeId: storeIdOf(config.store), layerCacheBytes: config.layerCacheMb * 2 ** 20, log }) : undefined;
  // Layer archives in the store are held while their layer is here or a recorded image uses it; a daemon sharing the database may hold other layers.
  if (!cluster.shared) await snapshots.chunks.layers.forgetAllBut([...(await images.layers.ids()), ...((await sharedImages?.recordedLayers()) ?? [])]);
  await sharedImages?.cache.trim();
  const chunkCache = new ChunkCache(db, snapshots.chunks, config.chunkCacheBytes, log);
  const coldImages = new ColdImages({ db, host, chunks: snapshots.chunks, cache: chunkCache, scratchDir: join(config.dataDir, 'snapshot-staging'), log });
  const exec = new ExecService(sandboxes, runtime, thermal, ledger, log);
  const journal = new MoveJournal(db);
  const moves = new MoveService({
    journal,
    images,
    sandboxes,
    snapshots,
    thermal,
    hosts,
    imports,
    runtime,
    ledger,
    execLocal: async (name) => (await exec.run(name, { command: ['true'], timeoutMs: 10_000 }, SYSTEM)).exitCode,
    log,
  });
  const keptCopies: KeptSnapshotCopy = new KeptSnapshotCopy({ db, hosts, sandboxes, chunks: snapshots.chunks, images, removeFrom: (row, at) => moves.removeSource(row, at), place: (req) => fleet.place(req), log });
  const rent = wireRentals({ db, sealer, hosts, sandboxes, events, dataDir: config.dataDir, tickMs: config.socket ? 0 : config.rentTickMs, placeWaitMs: config.placeWaitMs, log });
  const consistency = new ConsistencyChecker({
    db,
    host,
    runtime,
    layout,
    bridge: config.bridge,
    sandboxes,
    snapshots,
    fleet,
    coldDir: (id) => thermal.coldDir(id),
    log,
  });
  const ctx: DaemonContext = {
    version: await packageVersion(),
    authMaxFailures: config.authMaxFailures,
    authFailureDelayMs: config.authFailureDelayMs,
    log,
    images,
    sharedImages,
    sandboxes,
    exec,
    files: new FileService(runtime, thermal),
    hosts,
    imports,
    moves,
    logs: new ConsoleLogs(host, config.consoleCapBytes, (id) => runtime.paths(id)),
    snapshots,
    doctor: async () => ({ ...(await doctor(host, runtime.runc, criu)), store: { ...(await snapshots.chunks.stats()), ...(await snapshots.backend.describe()) } }),
    consistency: (opts) => consistency.check(opts),
    users,
    secrets,
    registries,
    imageSaves: new ImageSaveService({ host, images, sandboxes, runtime }),
    thermal,
    publish,
    events,
    shares: new ShareService(db, sealer, events, seams.clock),
    webSessions: new WebSessions(db),
    stats: new StatsService(runtime),
    ...rent,
    imageUsers: (image) => imageUsers({ db, sandboxes, snapshots }, image),
    removeUser: userRemover({ users, sandboxes, snapshots }),
  };
  // Before the thermal recovery: a move's cold state on its source is not an interrupted freeze's to remove.
  let settling: Promise<void> | undefined;
  const settleMoves = () => (settling ??= recoverMoves({ db, journal, moves, sandboxes, hosts, runtime, ledger, busyElsewhere: (id) => cluster.busyElsewhere(id), log }).finally(() => (settling = undefined)));
  await settleMoves();
  await thermal.recover();
  await sandboxes.reconcile(true);
  // ensureBridge closed the peer chain; open it again for the peers on record.
  await sandboxes.syncPeers();
  let timer: NodeJS.Timeout | undefined;

  // A fleet agent (on its Unix socket) serves the API only.
  const app = await buildApp(ctx, config.previewDomain, config.socket ? undefined : config.webDir);
  // MCP tools call this daemon's own API with the caller's key (its URL is known once listening). Agents serve no MCP.
  let selfUrl = '';
  if (!config.socket) {
    registerMcpRoute(app, { version: ctx.version, api: (token, signal) => new ApiClient(selfUrl, { token, signal }), allowedOrigins: mcpOriginHosts(config.host, config.mcpOrigins ?? []) });
  }
  let url: string;
  if (config.socket) {
    await rm(config.socket, { force: true }); // left by an agent that was killed
    await app.listen({ path: config.socket });
    await chmod(config.socket, 0o600);
    url = `unix:${config.socket}`;
  } else {
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    preview.authority = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    selfUrl = url;
  }
  // The timers run in one daemon at a time: this one alone, or the leader of several.
  await cluster.lead({
    lead() {
      timer = setInterval(() => {
        sandboxes.reconcile(false).catch((err) => log.error({ err }, 'reconcile failed'));
        settleMoves().catch((err) => log.error({ err }, 'settling moves cut short failed'));
      }, RECONCILE_EVERY_MS);
      timer.unref();
      thermal.start();
      hosts.start();
      rent.rentals.start();
    },
    yieldLead() {
      clearInterval(timer);
      hosts.stopHeartbeats();
      void thermal.stop();
      void rent.rentals.stop();
    },
  });
  log.info({ url, dataDir: config.dataDir }, 'bothub daemon listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    ctx,
    db,
    runtime,
    app,
    close: () =>
      (closing ??= (async () => {
        clearInterval(timer);
        await cluster.stop();
        await thermal.stop();
        await rent.rentals.stop();
        await hosts.stop();
        await thermal.flush();
        await app.close();
        await ctx.exec.drain();
        await runtime.spares.idle();
        await lazy.drain(); // a failed transfer still has its record to put right
        await db.destroy();
        log.info('bothub daemon stopped; sandboxes keep running');
      })()),
  };
}
