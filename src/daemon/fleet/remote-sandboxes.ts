import type { ApiClient, SandboxT } from '../../api/index.js';
import type { SandboxRow } from '../db/tables.js';
import type { HostService } from '../services/host-service.js';

/** Operations on a sandbox that lives on a fleet host, done by that host's agent. */
export class RemoteSandboxes {
  constructor(private readonly hosts: HostService) {}

  async agent(host: string): Promise<ApiClient> {
    return (await this.hosts.endpoint(host)).agent!;
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
}
