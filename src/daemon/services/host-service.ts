import type { Logger } from 'pino';
import ssh2 from 'ssh2';
import type { AddHostT, HostT, HostVerdictT } from '../../api/index.js';
import { BothubError, checkCompatibility, notFound, validateName, type GpuNeeds, type HostFingerprint } from '../../core/index.js';
import { SshHost, type SshTarget } from '../../hostexec/index.js';
import { hostFingerprint } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { HostRow } from '../db/tables.js';
import type { Sealer } from '../security/master-key.js';

export const LOCAL_HOST = 'local';
const HEARTBEAT_TIMEOUT_MS = 5000;

export interface HostServiceDeps {
  db: Db;
  sealer: Sealer;
  /** The daemon's own machine. */
  localFingerprint: () => Promise<HostFingerprint>;
  /** How often hosts are asked whether they are there; 0 disables. */
  heartbeatMs: number;
  log: Logger;
}

/** `user@address[:port]`, IPv6 in brackets. */
export function parseSsh(ssh: string): { username: string; address: string; port: number } {
  const m = /^([a-z_][a-z0-9_-]*)@(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(ssh);
  const port = Number(m?.[3] ?? 22);
  if (!m || port < 1 || port > 65535) throw new BothubError('INVALID_INPUT', `invalid --ssh "${ssh}": give user@address or user@address:port`);
  return { username: m[1]!, address: m[2]!.replace(/^\[|\]$/g, ''), port };
}

/** Why a host cannot run and checkpoint sandboxes; empty when it can. */
function unfit(fp: HostFingerprint): string[] {
  const reasons: string[] = [];
  if (fp.root === false) reasons.push('the SSH user is not root (sandboxes need root: runc, mounts, namespaces)');
  if (fp.runcVersion === 'missing') reasons.push('runc is not installed (apt-get install runc)');
  if (fp.criuCheck !== 'ok') reasons.push(`\`criu check\` fails: ${fp.criuCheck ?? 'not run'} (run scripts/install-criu there)`);
  return reasons;
}

/**
 * The fleet. Hosts are reached over SSH with their host key pinned on first
 * use; their fingerprints feed the compatibility gate; heartbeats mark the
 * ones that stop answering as unreachable (never dropped).
 */
export class HostService {
  private readonly connections = new Map<string, SshHost>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: HostServiceDeps) {}

  start(): void {
    if (this.deps.heartbeatMs > 0) this.timer = setInterval(() => void this.heartbeat(), this.deps.heartbeatMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
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
    if (!row) throw notFound('host', name, 'see `bothub host list`');
    return row;
  }

  private async present(row: HostRow | undefined): Promise<HostT> {
    if (!row)
      return {
        name: LOCAL_HOST,
        ssh: null,
        status: 'reachable',
        statusReason: null,
        lastSeenAt: new Date().toISOString(),
        hostKey: null,
        sandboxes: await this.sandboxCount(),
        fingerprint: await this.deps.localFingerprint(),
      };
    return {
      name: row.name,
      ssh: `${row.username}@${row.address.includes(':') ? `[${row.address}]` : row.address}:${row.port}`,
      status: row.status as HostT['status'],
      statusReason: row.status_reason,
      lastSeenAt: row.last_seen_at,
      hostKey: row.host_key,
      // Sandboxes are placed on this machine until the agent lands (see the README's fleet section).
      sandboxes: 0,
      fingerprint: JSON.parse(row.fingerprint_json) as HostFingerprint,
    };
  }

  private async sandboxCount(): Promise<number> {
    return Number(
      (
        await this.deps.db
          .selectFrom('sandboxes')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirst()
      )?.n ?? 0,
    );
  }

  async list(): Promise<HostT[]> {
    const rows = await this.deps.db.selectFrom('hosts').selectAll().orderBy('name').execute();
    return Promise.all([this.present(undefined), ...rows.map((r) => this.present(r))]);
  }

  async get(name: string): Promise<HostT> {
    return this.present(name === LOCAL_HOST ? undefined : await this.row(name));
  }

  async add(req: AddHostT): Promise<HostT> {
    validateName('host', req.name);
    if (req.name === LOCAL_HOST || (await this.deps.db.selectFrom('hosts').select('name').where('name', '=', req.name).executeTakeFirst()))
      throw new BothubError('NAME_TAKEN', `a host named "${req.name}" already exists; pick another name or remove it with \`bothub host rm ${req.name}\``);
    const ssh = parseSsh(req.ssh);
    const parsed = ssh2.utils.parseKey(req.privateKey);
    const key = parsed instanceof Error ? parsed : Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error || !key.isPrivateKey())
      throw new BothubError(
        'INVALID_INPUT',
        `the private key cannot be read (${key instanceof Error ? key.message : 'that is a public key'}); give an unencrypted OpenSSH or PEM private key file`,
      );
    // First contact: whatever host key it shows is pinned from now on.
    const conn = new SshHost(req.name, { ...ssh, privateKey: req.privateKey }, undefined);
    try {
      const fp = await hostFingerprint(conn);
      const problems = unfit(fp);
      if (problems.length) throw new BothubError('INVALID_STATE', `host "${req.name}" cannot run bothub sandboxes: ${problems.join('; ')}`);
      const now = new Date().toISOString();
      const row: HostRow = {
        name: req.name,
        address: ssh.address,
        port: ssh.port,
        username: ssh.username,
        key_sealed: this.deps.sealer.seal(req.privateKey, `host:${req.name}`),
        host_key: conn.hostKey!,
        fingerprint_json: JSON.stringify(fp),
        status: 'reachable',
        status_reason: null,
        last_seen_at: now,
        created_at: now,
      };
      await this.deps.db.insertInto('hosts').values(row).execute();
      this.deps.log.info({ host: req.name, hostKey: row.host_key }, 'host added');
      return this.present(row);
    } finally {
      await conn.close();
    }
  }

  /** Reconnects with the pinned key and refreshes the fingerprint; an unreachable host is marked so and the error says why. */
  async check(name: string): Promise<HostT> {
    if (name === LOCAL_HOST) return this.present(undefined);
    const row = await this.row(name);
    try {
      const fp = await hostFingerprint(this.connection(row));
      await this.mark(name, null, { fingerprint_json: JSON.stringify(fp) });
    } catch (e) {
      await this.mark(name, (e as Error).message);
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

  /** Every host with the gate's verdict for a snapshot taken on `snapshotHost`. */
  async verdicts(snapshotHost: HostFingerprint, needs: { gpu?: GpuNeeds } = {}): Promise<HostVerdictT[]> {
    return (await this.list()).map((h) => {
      const v = checkCompatibility(snapshotHost, h.fingerprint, needs);
      const reasons = h.status === 'unreachable' ? [`host is unreachable: ${h.statusReason ?? 'no heartbeat'}`, ...v.reasons] : v.reasons;
      return { host: h.name, status: h.status, compatible: reasons.length === 0, reasons };
    });
  }

  private async mark(name: string, failure: string | null, extra: Partial<HostRow> = {}): Promise<void> {
    await this.deps.db
      .updateTable('hosts')
      .set({ status: failure ? 'unreachable' : 'reachable', status_reason: failure, ...(failure ? {} : { last_seen_at: new Date().toISOString() }), ...extra })
      .where('name', '=', name)
      .execute();
  }

  /** One short command per host; what does not answer in time is unreachable until it does again. */
  async heartbeat(): Promise<void> {
    const rows = await this.deps.db.selectFrom('hosts').selectAll().execute();
    await Promise.all(
      rows.map(async (row) => {
        const ac = new AbortController();
        let timeout: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timeout = setTimeout(() => {
            ac.abort();
            reject(new BothubError('UNAVAILABLE', `host "${row.name}" did not answer a heartbeat within ${HEARTBEAT_TIMEOUT_MS / 1000} s`));
          }, HEARTBEAT_TIMEOUT_MS);
        });
        try {
          // A round trip is the proof of life; what the login shell makes of `true` is not.
          await Promise.race([this.connection(row).run('true', [], { signal: ac.signal, allowFailure: true }), late]);
          if (row.status !== 'reachable') this.deps.log.info({ host: row.name }, 'host reachable again');
          await this.mark(row.name, null);
        } catch (e) {
          if (row.status !== 'unreachable') this.deps.log.warn({ host: row.name, err: e }, 'host unreachable');
          await this.mark(row.name, (e as Error).message);
        } finally {
          clearTimeout(timeout);
        }
      }),
    );
  }
}
