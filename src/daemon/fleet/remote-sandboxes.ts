import type { ApiClient, SandboxT } from '../../api/index.js';
import type { Actor, BothubError, GpuRequest } from '../../core/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import type { FleetPort } from '../services/fleet-port.js';
import { LOCAL } from '../services/sandbox-records.js';
import type { HostEndpoint, HostService } from './host-service.js';
import { placeSandbox } from './placement.js';

/** Operations on a sandbox that lives on a fleet host, done by that host's agent; what services/ knows of the fleet. */
export class RemoteSandboxes implements FleetPort {
  constructor(
    private readonly hosts: HostService,
    private readonly db: Db,
    /** Several daemons: none runs sandboxes itself, every new one goes to a fleet host. */
    readonly controlPlaneOnly = false,
    /** Refuses (PRICE_CHANGED) a host whose rent would take the owner past their hourly price limit. */
    private readonly admit?: (host: string, ownerId: string | null) => Promise<void>,
    /** Puts an image on a host before a sandbox on it is created there (images in the store); absent: the host must have it. */
    private readonly bringImage?: (image: string, host: HostEndpoint, actor: Actor) => Promise<void>,
  ) {}

  async agent(host: string): Promise<ApiClient> {
    return (await this.hosts.endpoint(host)).agent!;
  }

  async agentFor(host: string, image: string, actor: Actor): Promise<ApiClient> {
    const endpoint = await this.hosts.endpoint(host);
    await this.bringImage?.(image, endpoint, actor);
    return endpoint.agent!;
  }

  /** Its agent wakes it if it went warm or cold there. */
  async wake(row: SandboxRow): Promise<SandboxT> {
    return (await this.agent(row.host)).call('resumeSandbox', { params: { name: row.name } });
  }

  async destroy(row: SandboxRow): Promise<void> {
    await (await this.agent(row.host)).call('destroySandbox', { params: { name: row.name } });
  }

  unreachable(): Promise<Set<string>> {
    return this.hosts.unreachable();
  }

  async remoteHosts(): Promise<string[]> {
    return (await this.hosts.list()).map((h) => h.name).filter((name) => name !== LOCAL);
  }

  place(req: { cpus: number | null; memoryMb: number | null; gpus?: GpuRequest; ownerId: string | null }): Promise<string> {
    const admit = this.admit;
    const refuse = admit && (async (host: string) => admit(host, req.ownerId).then(() => undefined, (e: BothubError) => (e.code === 'PRICE_CHANGED' ? e.message : Promise.reject(e))));
    return placeSandbox(this.db, this.hosts, req, this.controlPlaneOnly, refuse);
  }
}
