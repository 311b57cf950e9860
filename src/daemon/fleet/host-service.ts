import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ApiClient, type AddHostT, type HostT, type HostVerdictT, type SandboxT } from '../../api/index.js';
import { parseFingerprint } from '../../core/fingerprint-json.js';
import { BothubError, checkCompatibility, notFound, validateName, type GpuNeeds, type HostFingerprint } from '../../core/index.js';
import { LocalHost, SshHost, type Host, type SshTarget } from '../../hostexec/index.js';
import { hostFingerprint } from '../../runtime/index.js';
import { DEFAULT_DATA_DIR } from '../config.js';
import { currentRelease, installRelease, startAgent } from './agent-release.js';
import { KeyedMutex } from '../services/keyed-mutex.js';
import { parsePrivateKey, parseSsh, unfit } from './host-requirements.js';
import { loginAsRoot } from './root-login.js';
import type { Db } from '../db/database.js';
import type { HostRow } from '../db/tables.js';
import type { Sealer } from '../security/master-key.js';

export const LOCAL_HOST = 'local';
// An SSH round trip through a login shell, then one agent call: seconds on a busy host, never ten.
const HEARTBEAT_TIMEOUT_MS = 10_000;

export interface HostServiceDeps {
  db: Db;
  sealer: Sealer;
  /** The daemon's own machine. */
  localFingerprint: () => Promise<HostFingerprint>;
  /** How often hosts are asked whether they are there; 0 disables. */
  heartbeatMs: number;
  /** The daemon's own data directory (the "local" host's). */
  dataDir: string;
  /** What each host's agent reports of its sandboxes, at every heartbeat. */
  onAgentSandboxes?: (host: string, sandboxes: SandboxT[]) => Promise<void>;
  log: Logger;
}

/** Where a sandbox can live, as the move pipeline and the forwarder see it. */
export interface HostEndpoint {
  name: string;
  /** Runs programs there. */
  exec: Host;
  dataDir: string;
  /** The host's agent; absent for "local", whose runtime is this daemon. */
  agent?: ApiClient;
  fingerprint: HostFingerprint;
  reachable: boolean;
}

// The first start of an agent on a fresh machine (a rented one) can take most of a minute on a small, busy host.
const AGENT_START_TIMEOUT_MS = 60_000;

/**
 * The fleet. Hosts are reached over SSH with their host key pinned on first
 * use; their fingerprints feed the compatibility gate; heartbeats mark the
 * ones that stop answering as unreachable (never dropped).
 */
export class HostService {
  private readonly connections = new Map<string, SshHost>();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** One agent start at a time per host: two would fight over its socket. */
  private readonly agentStarts = new KeyedMutex();

  constructor(private readonly deps: HostServiceDeps) {}

  start(): void {
    // A round that cannot read the hosts (the database is away) is logged, and the next one tries again.
    const beat = () => this.heartbeat().catch((err: unknown) => this.deps.log.warn({ err }, 'a heartbeat round failed; the next one tries again'));
    if (this.deps.heartbeatMs > 0 && !this.timer) this.timer = setInterval(() => void beat(), this.deps.heartbeatMs);
  }

  /** No more rounds (another daemon leads now); connections stay for the requests this daemon still serves. */
  stopHeartbeats(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async stop(): Promise<void> {
    this.stopHeartbeats();
    // A round in flight still writes to the database: it ends before the daemon closes it.
    await this.beating?.catch(() => undefined);
    await Promise.all([...this.connections.values()].map((c) => c.close()));
    this.connections.clear();
  }

  private target(row: HostRow): SshTarget {
    return { address: row.address, port: row.port, username: row.username, privateKey: this.deps.sealer.open(row.key_sealed, `host:${row.name}`) };
  }

  private connection(row: HostRow): SshHost {
    let c = this.connections.get(row.name);
    if (!c) {
      c = new SshHost(row.name, this.target(row), row.host_key);
      this.connections.set(row.name, c);
    }
    return c;
  }

  private async row(name: string): Promise<HostRow> {
    const row = await this.deps.db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw notFound('host', name, 'see `GET /api/v1/hosts`');
    return row;
  }

  /** `counts`: sandboxes by host, when a list read them all at once; else this host's are counted. */
  private async present(row: HostRow | undefined, counts?: Map<string, number>): Promise<HostT> {
    const name = row?.name ?? LOCAL_HOST;
    const sandboxes = counts ? (counts.get(name) ?? 0) : ((await this.sandboxCounts(name)).get(name) ?? 0);
    if (!row)
      return {
        name: LOCAL_HOST,
        ssh: null,
        status: 'reachable',
        statusReason: null,
        lastSeenAt: new Date().toISOString(),
        hostKey: null,
        sandboxes,
        fingerprint: await this.deps.localFingerprint(),
      };
    return {
      name: row.name,
      ssh: `${row.username}@${row.address.includes(':') ? `[${row.address}]` : row.address}:${row.port}`,
      status: row.status as HostT['status'],
      statusReason: row.status_reason,
      lastSeenAt: row.last_seen_at,
      hostKey: row.host_key,
      sandboxes,
      fingerprint: parseFingerprint(row.fingerprint_json),
    };
  }

  /** Sandboxes on one host, or on every host in one query (a list of 100 hosts was 101 counts). */
  private async sandboxCounts(host?: string): Promise<Map<string, number>> {
    let q = this.deps.db.selectFrom('sandboxes').select((eb) => ['host', eb.fn.countAll().as('n')]).groupBy('host');
    if (host) q = q.where('host', '=', host);
    return new Map((await q.execute()).map((r) => [r.host, Number(r.n)]));
  }

  /** The agent's API, reached through an SSH channel to its Unix socket, with its own key. */
  private agentClient(row: HostRow, key: string): ApiClient {
    const conn = this.connection(row);
    const socket = join(row.data_dir, 'agent.sock');
    return new ApiClient('http://agent', {
      token: key,
      openStream: () => conn.openSocket(socket),
      unreachable: { what: `the agent of host "${row.name}"`, hint: `the heartbeat starts it again; or check the host (\`POST /api/v1/hosts/${row.name}/check\`)` },
    });
  }

  /**
   * Installs this build there if it lacks it, starts the agent if it is not
   * running (or runs another release), waits until it answers, and returns
   * its key.
   */
  private ensureAgent(conn: SshHost, name: string, dataDir: string, signal?: AbortSignal): Promise<string> {
    return this.agentStarts.run(name, () => this.ensureAgentLocked(conn, name, dataDir, signal));
  }

  private async ensureAgentLocked(conn: SshHost, name: string, dataDir: string, signal?: AbortSignal): Promise<string> {
    const release = await currentRelease();
    await installRelease(conn, dataDir, signal);
    await startAgent(conn, dataDir, release.id, signal);
    const socket = join(dataDir, 'agent.sock');
    const deadline = Date.now() + AGENT_START_TIMEOUT_MS;
    for (;;) {
      const health = await new ApiClient('http://agent', { openStream: () => conn.openSocket(socket) }).call('health').catch((e: Error) => e);
      if (!(health instanceof Error)) break;
      if (Date.now() > deadline) {
        const log = await conn.run('tail', ['-n', '5', join(dataDir, 'agent.log')], { allowFailure: true });
        throw new BothubError(
          'UNAVAILABLE',
          `bothub's agent on host "${name}" did not start: ${log.stdout.trim().split('\n').pop() || health.message}; see ${join(dataDir, 'agent.log')} there`,
        );
      }
      await sleep(200);
    }
    return (await conn.run('cat', [join(dataDir, 'admin.key')], { signal })).stdout.trim();
  }

  /** Runs programs there and talks to its agent; "local" is this machine and this daemon. */
  async endpoint(name: string): Promise<HostEndpoint> {
    if (name === LOCAL_HOST) return { name, exec: new LocalHost(), dataDir: this.deps.dataDir, fingerprint: await this.deps.localFingerprint(), reachable: true };
    const row = await this.row(name);
    if (!row.agent_key_sealed) throw new BothubError('INVALID_STATE', `host "${name}" has no agent yet; check the host (\`POST /api/v1/hosts/${name}/check\`)`);
    return {
      name,
      exec: this.connection(row),
      dataDir: row.data_dir,
      agent: this.agentClient(row, this.deps.sealer.open(row.agent_key_sealed, `agent:${row.name}`)),
      fingerprint: parseFingerprint(row.fingerprint_json),
      reachable: row.status === 'reachable',
    };
  }

  /** Hosts that are not answering: their sandboxes show as unknown. */
  async unreachable(): Promise<Set<string>> {
    return new Set((await this.deps.db.selectFrom('hosts').select('name').where('status', '=', 'unreachable').execute()).map((r) => r.name));
  }

  /** A TCP connection to an address on a fleet host's bridge (a published port of a sandbox there). */
  async connectTcp(host: string, address: string, port: number) {
    return this.connection(await this.row(host)).openTcp(address, port);
  }

  async list(): Promise<HostT[]> {
    const rows = await this.deps.db.selectFrom('hosts').selectAll().orderBy('name').execute();
    const counts = await this.sandboxCounts();
    return Promise.all([this.present(undefined, counts), ...rows.map((r) => this.present(r, counts))]);
  }

  async get(name: string): Promise<HostT> {
    return this.present(name === LOCAL_HOST ? undefined : await this.row(name));
  }

  /** `checkpoint: false`: a rented machine taken knowing it cannot checkpoint (its sandboxes then cannot freeze, go cold or move). */
  async add(req: AddHostT, opts: { checkpoint?: boolean; signal?: AbortSignal } = {}): Promise<HostT> {
    validateName('host', req.name);
    if (req.name === LOCAL_HOST || (await this.deps.db.selectFrom('hosts').select('name').where('name', '=', req.name).executeTakeFirst()))
      throw new BothubError('NAME_TAKEN', `a host named "${req.name}" already exists; pick another name or remove it (\`DELETE /api/v1/hosts/${req.name}\`)`);
    const ssh = parseSsh(req.ssh);
    const key = parsePrivateKey(req.privateKey);
    // First contact: whatever host key it shows is pinned from now on.
    const first = new SshHost(req.name, { ...ssh, privateKey: req.privateKey }, undefined);
    let conn = first;
    const dataDir = req.dataDir ?? DEFAULT_DATA_DIR;
    try {
      if (ssh.username !== 'root') conn = await loginAsRoot(first, { ...ssh, privateKey: req.privateKey }, `${key.type} ${key.getPublicSSH().toString('base64')} bothub host ${req.name}`, opts.signal);
      let fp = await hostFingerprint(conn);
      if (opts.checkpoint !== false && fp.root !== false && fp.runcVersion !== 'missing' && fp.criuCheck !== 'ok') {
        // CRIU is bothub's to install, from Debian's archive, as the set-up does on this machine.
        const dir = await installRelease(conn, dataDir);
        await conn.run('bash', [join(dir, 'scripts', 'install-criu')]);
        fp = await hostFingerprint(conn);
      }
      const problems = unfit(fp, opts.checkpoint);
      if (problems.length) throw new BothubError('INVALID_STATE', `host "${req.name}" cannot run bothub sandboxes: ${problems.join('; ')}`);
      const local = await this.deps.localFingerprint();
      if (fp.arch !== local.arch) throw new BothubError('INVALID_STATE', `host "${req.name}" is ${fp.arch} and this build is ${local.arch}; bothub's agent cannot run there`);
      const agentKey = await this.ensureAgent(conn, req.name, dataDir, opts.signal);
      const now = new Date().toISOString();
      const row: HostRow = {
        name: req.name,
        address: ssh.address,
        port: ssh.port,
        username: 'root', // a sudo user's login was turned into root's above
        key_sealed: this.deps.sealer.seal(req.privateKey, `host:${req.name}`),
        host_key: conn.hostKey!,
        fingerprint_json: JSON.stringify(fp),
        status: 'reachable',
        status_reason: null,
        last_seen_at: now,
        created_at: now,
        data_dir: dataDir,
        agent_key_sealed: this.deps.sealer.seal(agentKey, `agent:${req.name}`),
      };
      await this.deps.db.insertInto('hosts').values(row).execute();
      this.deps.log.info({ host: req.name, hostKey: row.host_key }, 'host added');
      return this.present(row);
    } finally {
      await Promise.all([first.close(), conn.close()]);
    }
  }

  /** Reconnects with the pinned key and refreshes the fingerprint; an unreachable host is marked so and the error says why. */
  async check(name: string): Promise<HostT> {
    if (name === LOCAL_HOST) return this.present(undefined);
    const row = await this.row(name);
    const started = new Date().toISOString();
    try {
      const conn = this.connection(row);
      const fp = await hostFingerprint(conn);
      // Also brings the agent up to this build, and up at all if it died.
      const key = await this.ensureAgent(conn, name, row.data_dir);
      await this.mark(name, null, { fingerprint_json: JSON.stringify(fp), agent_key_sealed: this.deps.sealer.seal(key, `agent:${name}`) });
    } catch (e) {
      await this.mark(name, (e as Error).message, {}, started);
      throw e;
    }
    return this.present(await this.row(name));
  }

  async remove(name: string): Promise<void> {
    if (name === LOCAL_HOST) throw new BothubError('INVALID_INPUT', 'the host "local" is this machine; it cannot be removed');
    const host = await this.present(await this.row(name));
    if (host.sandboxes > 0) throw new BothubError('IN_USE', `host "${name}" has ${host.sandboxes} sandbox(es); move or destroy them first`);
    await this.connections.get(name)?.close();
    this.connections.delete(name);
    await this.deps.db.deleteFrom('hosts').where('name', '=', name).execute();
  }

  /** Forgets a released rented host whose sandboxes were all brought home first (their records still name it until placed again). */
  async forget(name: string): Promise<void> {
    await this.connections.get(name)?.close();
    this.connections.delete(name);
    await this.deps.db.deleteFrom('hosts').where('name', '=', name).execute();
  }

  /** Every host with the gate's verdict for a snapshot taken on `snapshotHost`. */
  async verdicts(snapshotHost: HostFingerprint, needs: { gpu?: GpuNeeds } = {}): Promise<HostVerdictT[]> {
    return (await this.list()).map((h) => {
      const v = checkCompatibility(snapshotHost, h.fingerprint, needs);
      const reasons = h.status === 'unreachable' ? [`host is unreachable: ${h.statusReason ?? 'no heartbeat'}`, ...v.reasons] : v.reasons;
      return { host: h.name, status: h.status, compatible: reasons.length === 0, reasons };
    });
  }

  /**
   * Asks the agent for its sandboxes; an agent that died is started again.
   * The start is not cut short with the beat's signal (a half-started agent
   * helps no one): when it outlasts the beat, the host shows unreachable
   * until a later beat finds the agent up.
   */
  private async agentBeat(row: HostRow, signal: AbortSignal): Promise<void> {
    if (!row.agent_key_sealed) return;
    const agent = this.agentClient(row, this.deps.sealer.open(row.agent_key_sealed, `agent:${row.name}`));
    let list = await agent.call('listSandboxes', { signal }).catch((e: Error) => e);
    if (list instanceof Error) {
      if (signal.aborted) throw list;
      this.deps.log.warn({ host: row.name, err: list }, 'agent not answering; starting it again');
      await this.ensureAgent(this.connection(row), row.name, row.data_dir);
      list = await agent.call('listSandboxes', { signal });
    }
    await this.deps.onAgentSandboxes?.(row.name, list);
  }

  /**
   * Records what was seen of a host. A failure carries when its attempt began
   * (`since`): a beat that hung while a later check or beat found the host up
   * must not mark it unreachable after the fact.
   */
  private async mark(name: string, failure: string | null, extra: Partial<HostRow> = {}, since?: string): Promise<void> {
    let update = this.deps.db
      .updateTable('hosts')
      .set({ status: failure ? 'unreachable' : 'reachable', status_reason: failure, ...(failure ? {} : { last_seen_at: new Date().toISOString() }), ...extra })
      .where('name', '=', name);
    if (failure && since) update = update.where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', since)]));
    await update.execute();
  }

  /** One short command per host; what does not answer in time is unreachable until it does again. */
  /** One round at a time: a slow host (an agent starting) must not pile rounds up. */
  heartbeat(): Promise<void> {
    return (this.beating ??= this.beat().finally(() => (this.beating = undefined)));
  }

  private async beat(): Promise<void> {
    const rows = await this.deps.db.selectFrom('hosts').selectAll().execute();
    await Promise.all(rows.map((row) => this.beatHost(row)));
  }

  /** One host's beat, bounded as a whole: a hung host is marked unreachable in time and never holds up the others' round. */
  private async beatHost(row: HostRow): Promise<void> {
    const started = new Date().toISOString();
    const ac = new AbortController();
    let timeout: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timeout = setTimeout(() => {
        ac.abort();
        reject(new BothubError('UNAVAILABLE', `host "${row.name}" did not answer a heartbeat within ${HEARTBEAT_TIMEOUT_MS / 1000} s`));
      }, HEARTBEAT_TIMEOUT_MS);
    });
    const alive = async () => {
      // A round trip is the proof of life; what the login shell makes of `true` is not.
      await this.connection(row).run('true', [], { signal: ac.signal, allowFailure: true });
      await this.agentBeat(row, ac.signal);
    };
    try {
      await Promise.race([alive(), late]);
      if (row.status !== 'reachable') this.deps.log.info({ host: row.name }, 'host reachable again');
      await this.mark(row.name, null);
    } catch (e) {
      if (row.status !== 'unreachable') this.deps.log.warn({ host: row.name, err: e }, 'host unreachable');
      await this.mark(row.name, (e as Error).message, {}, started);
    } finally {
      clearTimeout(timeout);
    }
  }
}
