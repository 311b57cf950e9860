import { providerCall, type ProviderHttpOptions } from './http.js';
import { offerFits, type Instance, type Offer, type OfferQuery, type Provider, type RentRequest } from './types.js';

export const VAST_URL = 'https://console.vast.ai';
/** Vast's KVM image: a virtual machine, root with every capability (CRIU works). Containers get the plain image. */
const VM_IMAGE = 'docker.io/vastai/kvm:ubuntu_cli_22.04-2025-01-21';
const CONTAINER_IMAGE = 'ubuntu:22.04';
const DISK_GB = 64;

/** One offer as `POST /api/v0/bundles/` lists it. */
interface VastOffer {
  id: number;
  gpu_name: string;
  num_gpus: number;
  /** Per GPU, MB. */
  gpu_ram: number;
  dph_total: number;
  geolocation?: string | null;
  /** The machine rents virtual machines: full root, so checkpoints work. */
  vms_enabled?: boolean;
}

/** One instance as `GET /api/v0/instances/` describes it. */
interface VastInstance {
  id: number;
  label?: string | null;
  actual_status?: string | null;
  cur_state?: string | null;
  ssh_host?: string | null;
  ssh_port?: number | null;
  dph_total?: number | null;
}

function instanceOf(i: VastInstance): Instance {
  const running = i.actual_status === 'running';
  const gone = i.actual_status === 'exited' || i.actual_status === 'offline' || i.cur_state === 'stopped' || i.cur_state === 'destroyed';
  return {
    id: String(i.id),
    label: i.label ?? null,
    status: running ? 'running' : gone ? 'gone' : 'starting',
    ssh: running && i.ssh_host && i.ssh_port ? { username: 'root', address: i.ssh_host, port: i.ssh_port } : null,
    usdPerHour: i.dph_total ?? null,
  };
}

/**
 * Vast.ai's REST API (what its `vastai` CLI calls): offers by a query body,
 * a rent is an accepted ask, instances polled for actual_status and the SSH
 * address, destroyed with DELETE. Errors come as {success: false, error, msg}.
 */
export class VastProvider implements Provider {
  readonly name = 'vast' as const;
  private readonly http: ProviderHttpOptions;

  constructor(key: string, baseUrl = VAST_URL) {
    this.http = {
      provider: 'vast',
      baseUrl,
      key,
      classify: (status, msg) =>
        /no_such_ask|not available|no longer available|unavailable/i.test(msg) || status === 404
          ? 'OFFER_GONE'
          : /price/i.test(msg)
            ? 'PRICE_CHANGED'
            : /insufficient|no capacity|no gpus/i.test(msg)
              ? 'NO_CAPACITY'
              : undefined,
    };
  }

  async listOffers(q: OfferQuery, signal?: AbortSignal): Promise<Offer[]> {
    const body: Record<string, unknown> = {
      verified: { eq: true },
      rentable: { eq: true },
      rented: { eq: false },
      type: 'on-demand',
      order: [['dph_total', 'asc']],
      limit: 64,
      ...(q.count ? { num_gpus: { gte: q.count } } : {}),
      ...(q.maxUsdPerHour !== undefined ? { dph_total: { lte: q.maxUsdPerHour } } : {}),
      ...(q.gpu ? { gpu_name: { eq: q.gpu.replace(/\s+/g, '_') } } : {}),
    };
    const r = await providerCall<{ offers: VastOffer[] }>(this.http, 'searching offers', 'POST', '/api/v0/bundles/', body, signal);
    return (r.offers ?? [])
      .map(
        (o): Offer => ({
          provider: 'vast',
          id: String(o.id),
          gpuModel: o.gpu_name.replace(/_/g, ' '),
          gpuCount: o.num_gpus,
          vramMb: Math.round(o.gpu_ram),
          usdPerHour: o.dph_total,
          location: o.geolocation ?? '-',
          canCheckpoint: o.vms_enabled === true,
        }),
      )
      .filter((o) => offerFits(o, q));
  }

  async rent(req: RentRequest, signal?: AbortSignal): Promise<{ instanceId: string }> {
    const vm = req.offer.canCheckpoint;
    const r = await providerCall<{ success: boolean; new_contract: number }>(
      this.http,
      `renting offer ${req.offer.id}`,
      'PUT',
      `/api/v0/asks/${encodeURIComponent(req.offer.id)}/`,
      { client_id: 'me', image: vm ? VM_IMAGE : CONTAINER_IMAGE, disk: DISK_GB, label: req.label, runtype: 'ssh_direct', env: {} },
      signal,
    );
    const instanceId = String(r.new_contract);
    // The key bothub logs in with, on this instance only (not the account's keys). Without it the instance is of no use: it goes at once.
    try {
      await providerCall(this.http, `adding bothub's SSH key to instance ${instanceId}`, 'POST', `/api/v0/instances/${instanceId}/ssh/`, { ssh_key: req.publicKey }, signal);
    } catch (e) {
      await this.destroy(instanceId).catch(() => undefined); // else reconciling finds it by its label
      throw e;
    }
    return { instanceId };
  }

  async getInstance(id: string, signal?: AbortSignal): Promise<Instance | null> {
    try {
      const r = await providerCall<{ instances: VastInstance | null }>(this.http, `reading instance ${id}`, 'GET', `/api/v0/instances/${encodeURIComponent(id)}/`, undefined, signal);
      return r.instances ? instanceOf(r.instances) : null;
    } catch (e) {
      if ((e as { code?: string }).code === 'OFFER_GONE') return null; // a 404: no such instance
      throw e;
    }
  }

  async listInstances(signal?: AbortSignal): Promise<Instance[]> {
    const r = await providerCall<{ instances: VastInstance[] }>(this.http, 'listing instances', 'GET', '/api/v0/instances/', undefined, signal);
    return (r.instances ?? []).map(instanceOf);
  }

  async destroy(id: string, signal?: AbortSignal): Promise<void> {
    try {
      await providerCall(this.http, `destroying instance ${id}`, 'DELETE', `/api/v0/instances/${encodeURIComponent(id)}/`, undefined, signal);
    } catch (e) {
      if ((e as { code?: string }).code !== 'OFFER_GONE') throw e; // already gone: the bill has stopped
    }
  }
}
