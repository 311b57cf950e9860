import { BothubError } from '../../core/index.js';
import { providerCall, type ProviderHttpOptions } from './http.js';
import { offerFits, type Instance, type Offer, type OfferQuery, type Provider, type RentRequest } from './types.js';

export const HYPERBOLIC_URL = 'https://api.hyperbolic.xyz';

/** A node of `POST /v1/marketplace`. */
interface Node {
  id: string;
  cluster_name: string;
  status: string;
  hardware: { gpus: { model: string; ram: number }[] };
  /** Cents per GPU-hour. */
  pricing: { price: { amount: number; period?: string } };
  gpus_total: number;
  gpus_reserved: number;
  location?: { region?: string } | null;
}

/** An instance of `GET /v1/marketplace/instances`. */
interface HyperbolicInstance {
  id: string;
  sshCommand?: string | null;
  instance: { status: string; pricing?: { price?: { amount?: number } } | null; gpu_count?: number };
  userMetadata?: { bothub?: { label?: string } } | null;
}

/** "ssh ubuntu@host.example -p 31234" */
function parseSshCommand(cmd: string | null | undefined): Instance['ssh'] {
  const m = /ssh\s+(?:-\S+\s+\S+\s+)*([a-z_][a-z0-9_-]*)@(\S+?)(?:\s+-p\s+(\d+))?\s*$/.exec(cmd ?? '');
  return m ? { username: m[1]!, address: m[2]!, port: Number(m[3] ?? 22) } : null;
}

function instanceOf(i: HyperbolicInstance): Instance {
  const s = i.instance.status.toLowerCase();
  const gone = s === 'terminated' || s === 'failed';
  return {
    id: i.id,
    label: i.userMetadata?.bothub?.label ?? null,
    status: gone ? 'gone' : s === 'online' || s === 'running' ? 'running' : 'starting',
    ssh: s === 'online' || s === 'running' ? parseSshCommand(i.sshCommand) : null,
    usdPerHour: i.instance.pricing?.price?.amount !== undefined ? (i.instance.pricing.price.amount * (i.instance.gpu_count ?? 1)) / 100 : null,
  };
}

/**
 * Hyperbolic's GPU marketplace: nodes listed by `POST /v1/marketplace`, an
 * instance created on a cluster's node with the SSH key, listed, and
 * terminated. Marketplace instances are containers: no checkpoints.
 */
export class HyperbolicProvider implements Provider {
  readonly name = 'hyperbolic' as const;
  private readonly http: ProviderHttpOptions;

  constructor(key: string, baseUrl = HYPERBOLIC_URL) {
    this.http = {
      provider: 'hyperbolic',
      baseUrl,
      key,
      classify: (status, msg) =>
        /not enough|no available|insufficient gpus|capacity/i.test(msg) ? 'NO_CAPACITY' : status === 404 || /not found|reserved/i.test(msg) ? 'OFFER_GONE' : /price/i.test(msg) ? 'PRICE_CHANGED' : undefined,
    };
  }

  async listOffers(q: OfferQuery, signal?: AbortSignal): Promise<Offer[]> {
    const r = await providerCall<{ instances: Node[] }>(this.http, 'listing the marketplace', 'POST', '/v1/marketplace', { filters: {} }, signal);
    const count = q.count ?? 1;
    return (r.instances ?? [])
      .filter((n) => n.status === 'node_ready' && n.gpus_total - n.gpus_reserved >= count && n.hardware.gpus.length > 0)
      .map(
        (n): Offer => ({
          provider: 'hyperbolic',
          id: `${n.cluster_name}/${n.id}`,
          gpuModel: n.hardware.gpus[0]!.model,
          gpuCount: count,
          vramMb: n.hardware.gpus[0]!.ram,
          usdPerHour: (n.pricing.price.amount * count) / 100,
          location: n.location?.region ?? '-',
          canCheckpoint: false,
        }),
      )
      .filter((o) => offerFits(o, q));
  }

  async rent(req: RentRequest, signal?: AbortSignal): Promise<{ instanceId: string }> {
    const [cluster, node] = req.offer.id.split('/');
    if (!cluster || !node) throw new BothubError('INVALID_INPUT', `not a Hyperbolic offer id: ${req.offer.id} (cluster/node)`);
    const r = await providerCall<{ instance_name?: string; instanceName?: string }>(
      this.http,
      `renting ${req.offer.id}`,
      'POST',
      '/v1/marketplace/instances/create',
      { cluster_name: cluster, node_name: node, gpu_count: req.offer.gpuCount, publicKey: req.publicKey, userMetadata: { bothub: { label: req.label } } },
      signal,
    );
    const id = r.instance_name ?? r.instanceName;
    if (!id) throw new BothubError('PROVIDER_FAILED', 'hyperbolic: renting returned no instance name');
    return { instanceId: id };
  }

  async getInstance(id: string, signal?: AbortSignal): Promise<Instance | null> {
    return (await this.listInstances(signal)).find((i) => i.id === id) ?? null;
  }

  async listInstances(signal?: AbortSignal): Promise<Instance[]> {
    const r = await providerCall<{ instances: HyperbolicInstance[] }>(this.http, 'listing instances', 'GET', '/v1/marketplace/instances', undefined, signal);
    return (r.instances ?? []).map(instanceOf);
  }

  async destroy(id: string, signal?: AbortSignal): Promise<void> {
    try {
      await providerCall(this.http, `terminating ${id}`, 'POST', '/v1/marketplace/instances/terminate', { id }, signal);
    } catch (e) {
      if ((e as { code?: string }).code !== 'OFFER_GONE') throw e;
    }
  }
}
