import { providerCall, type ProviderHttpOptions } from './http.js';
import { gpuMatches, offerFits, type Instance, type Offer, type OfferQuery, type Provider, type RentRequest } from './types.js';

export const RUNPOD_URL = 'https://api.runpod.io';
const IMAGE = 'runpod/base:0.6.2-cuda12.2.0';
const DISK_GB = 64;

interface GpuType {
  id: string;
  displayName: string;
  memoryInGb: number;
  lowestPrice: { minimumBidPrice: number | null; uninterruptablePrice: number | null } | null;
}

interface Pod {
  id: string;
  name: string | null;
  desiredStatus: string | null;
  costPerHr: number | null;
  runtime: { ports: { ip: string; isIpPublic: boolean; privatePort: number; publicPort: number; type: string }[] | null } | null;
}

const POD_FIELDS = 'id name desiredStatus costPerHr runtime { ports { ip isIpPublic privatePort publicPort type } }';

function instanceOf(p: Pod): Instance {
  const ssh = p.runtime?.ports?.find((x) => x.privatePort === 22 && x.isIpPublic && x.type === 'tcp');
  const gone = p.desiredStatus === 'TERMINATED' || p.desiredStatus === 'EXITED';
  return {
    id: p.id,
    label: p.name,
    status: gone ? 'gone' : ssh ? 'running' : 'starting',
    ssh: ssh ? { username: 'root', address: ssh.ip, port: ssh.publicPort } : null,
    usdPerHour: p.costPerHr,
  };
}

/** An offer id here is "<count>x<gpuTypeId>": RunPod picks the machine, we pick the GPU type and count. */
const offerId = (count: number, gpuTypeId: string) => `${count}x${gpuTypeId}`;

/**
 * RunPod's GraphQL API: GPU types with their lowest price, on-demand pods
 * deployed with podFindAndDeployOnDemand (the SSH key goes in PUBLIC_KEY, as
 * RunPod's images expect), the pod's runtime ports for SSH, podTerminate.
 * Pods are unprivileged containers: no offer here can checkpoint.
 */
export class RunpodProvider implements Provider {
  readonly name = 'runpod' as const;
  private readonly http: ProviderHttpOptions;

  constructor(key: string, baseUrl = RUNPOD_URL) {
    this.http = {
      provider: 'runpod',
      baseUrl,
      key,
      classify: (_status, msg) =>
        /no longer any instances available|not enough free gpus|no available/i.test(msg) ? 'NO_CAPACITY' : /price/i.test(msg) ? 'PRICE_CHANGED' : undefined,
    };
  }

  private async gql<T>(what: string, query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    const r = await providerCall<{ data: T }>(this.http, what, 'POST', '/graphql', { query, variables }, signal);
    return r.data;
  }

  async listOffers(q: OfferQuery, signal?: AbortSignal): Promise<Offer[]> {
    const count = q.count ?? 1;
    const d = await this.gql<{ gpuTypes: GpuType[] }>(
      'listing GPU types',
      'query GpuTypes($count: Int) { gpuTypes { id displayName memoryInGb lowestPrice(input: { gpuCount: $count }) { minimumBidPrice uninterruptablePrice } } }',
      { count },
      signal,
    );
    return (d.gpuTypes ?? [])
      .filter((g) => g.lowestPrice?.uninterruptablePrice && (gpuMatches(g.displayName, q.gpu) || gpuMatches(g.id, q.gpu)))
      .map(
        (g): Offer => ({
          provider: 'runpod',
          id: offerId(count, g.id),
          gpuModel: g.displayName,
          gpuCount: count,
          vramMb: g.memoryInGb * 1024,
          usdPerHour: Math.round(g.lowestPrice!.uninterruptablePrice! * count * 1000) / 1000,
          location: 'any',
          canCheckpoint: false,
        }),
      )
      .filter((o) => offerFits(o, { ...q, gpu: undefined }));
  }

  async rent(req: RentRequest, signal?: AbortSignal): Promise<{ instanceId: string }> {
    const m = /^(\d+)x(.+)$/.exec(req.offer.id);
    if (!m) throw new Error(`not a RunPod offer id: ${req.offer.id}`);
    const d = await this.gql<{ podFindAndDeployOnDemand: { id: string } | null }>(
      `deploying a pod of ${req.offer.id}`,
      'mutation Deploy($input: PodFindAndDeployOnDemandInput) { podFindAndDeployOnDemand(input: $input) { id costPerHr } }',
      {
        input: {
          cloudType: 'ALL',
          gpuCount: Number(m[1]),
          gpuTypeId: m[2],
          name: req.label,
          imageName: IMAGE,
          containerDiskInGb: DISK_GB,
          volumeInGb: 0,
          ports: '22/tcp',
          startSsh: true,
          env: [{ key: 'PUBLIC_KEY', value: req.publicKey }],
        },
      },
      signal,
    );
    if (!d.podFindAndDeployOnDemand) throw new Error('RunPod returned no pod');
    return { instanceId: d.podFindAndDeployOnDemand.id };
  }

  async getInstance(id: string, signal?: AbortSignal): Promise<Instance | null> {
    const d = await this.gql<{ pod: Pod | null }>(`reading pod ${id}`, `query Pod($podId: String!) { pod(input: { podId: $podId }) { ${POD_FIELDS} } }`, { podId: id }, signal);
    return d.pod ? instanceOf(d.pod) : null;
  }

  async listInstances(signal?: AbortSignal): Promise<Instance[]> {
    const d = await this.gql<{ myself: { pods: Pod[] } }>('listing pods', `query Pods { myself { pods { ${POD_FIELDS} } } }`, {}, signal);
    return (d.myself?.pods ?? []).map(instanceOf);
  }

  async destroy(id: string, signal?: AbortSignal): Promise<void> {
    await this.gql(`terminating pod ${id}`, 'mutation Terminate($podId: String!) { podTerminate(input: { podId: $podId }) }', { podId: id }, signal);
  }
}
