import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshHost, type LoginUser, type TestSshHost } from './ssh-host.js';

/**
 * Fakes of the GPU providers' HTTP APIs, as their public documentation and
 * official clients define them (paths, Bearer key, JSON fields, error
 * shapes). Renting "provisions" a machine: an sshd host in a network
 * namespace, as the fleet tests start them, that lets in the key given with
 * the order. Destroying it stops that host.
 */
export interface FakeInstance {
  id: string;
  label: string | null;
  offerId: string;
  usdPerHour: number;
  /** starting until its host is up (and, on Vast, its key attached); never leaves it when `unreachable`. */
  status: 'starting' | 'running' | 'destroyed';
  host?: TestSshHost;
  publicKey?: string;
}

export interface FakeOffer {
  id: string;
  gpuModel: string;
  gpuCount: number;
  vramMb: number;
  usdPerHour: number;
  location: string;
  /** Vast: a machine that rents virtual machines. */
  vm?: boolean;
}

export interface FakeProvider {
  url: string;
  /** Where the machines it provisions keep their agent's data: `<root>/<label>` (give the daemon `<root>/{label}`). */
  root: string;
  key: string;
  offers: FakeOffer[];
  instances: Map<string, FakeInstance>;
  /** Every request, as "METHOD path". */
  calls: string[];
  /** Ids whose destroy the fake received. */
  destroyed: string[];
  /** Machines rented from now on never become reachable. */
  unreachable: boolean;
  /** Every call is answered as this provider answers a client over its rate limit. */
  rateLimited: boolean;
  /** Rent calls are refused as this provider refuses them: no machine left for it, or the offer taken meanwhile (it is still listed). */
  refuseRent?: 'capacity' | 'gone';
  /** An instance made outside bothub's rent calls (in the provider's console, or by a rent a crash cut short). */
  addInstance(inst: Omit<FakeInstance, 'status'>): void;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, body: any, fake: FakeState) => Promise<[number, unknown]>;

interface FakeState extends FakeProvider {
  provision(inst: FakeInstance): void;
  destroy(id: string): Promise<void>;
  nextId(): string;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : undefined;
}

/** How a provider answers a bad key and a client over its rate limit: status, body (JSON, or plain text). */
interface Refusals {
  unauthorized: [number, unknown];
  rateLimited: [number, unknown];
}

/** `users`: the machines' logins when not root (Hyperbolic's are `ubuntu`, with passwordless sudo). */
async function startFake(name: string, key: string, handle: Handler, refusals: Refusals, waitForKey: boolean, users?: LoginUser[]): Promise<FakeProvider> {
  const root = mkdtempSync(join(tmpdir(), `bothub-fake-${name}-`));
  let counter = 1000;
  const pending = new Set<Promise<unknown>>();
  const state: FakeState = {
    url: '',
    root,
    key,
    offers: [],
    instances: new Map(),
    calls: [],
    destroyed: [],
    unreachable: false,
    rateLimited: false,
    nextId: () => String(++counter),
    addInstance(inst) {
      state.instances.set(inst.id, { ...inst, status: 'running' });
    },
    provision(inst) {
      if (state.unreachable) return;
      // The agent's data directory the daemon names after the label (the helper shares the test image there).
      const up = startSshHost({ dataDir: join(root, inst.label ?? inst.id), ...(users ? { users } : {}) }).then((host) => {
        inst.host = host;
        if (inst.status === 'destroyed') return host.cleanup();
        const ready = () => {
          if (!inst.publicKey) return setTimeout(ready, 50);
          host.authorize(inst.publicKey);
          inst.status = 'running';
        };
        if (waitForKey) ready();
        else {
          host.authorize(inst.publicKey!);
          inst.status = 'running';
        }
      });
      // A machine that fails to come up stays "starting": the rent's time limit is what ends it.
      void up.catch(() => undefined);
      pending.add(up);
      void up.finally(() => pending.delete(up));
    },
    async destroy(id) {
      const inst = state.instances.get(id);
      state.destroyed.push(id);
      if (!inst) return;
      inst.status = 'destroyed';
      await inst.host?.cleanup();
      inst.host = undefined;
    },
    async close() {
      server.close();
      await Promise.allSettled([...pending]);
      for (const inst of state.instances.values()) await inst.host?.cleanup().catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    state.calls.push(`${req.method} ${req.url}`);
    if (req.headers.authorization !== `Bearer ${state.key}`) return send(...refusals.unauthorized);
    if (state.rateLimited) return send(...refusals.rateLimited);
    readBody(req)
      .then((body) => handle(req, body, state))
      .then(([status, body]) => send(status, body))
      .catch((e: Error) => send(500, { error: e.message }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  state.url = `http://127.0.0.1:${addr.port}`;
  return state;
}

/** Vast.ai: /api/v0 with {success, error, msg} errors. */
export function fakeVast(key = 'vast-test-key'): Promise<FakeProvider> {
  const vastInstance = (i: FakeInstance) => ({
    id: Number(i.id),
    label: i.label,
    actual_status: i.status === 'running' ? 'running' : i.status === 'destroyed' ? 'exited' : 'loading',
    cur_state: i.status === 'destroyed' ? 'stopped' : 'running',
    ssh_host: i.status === 'running' ? i.host?.address : null,
    ssh_port: i.status === 'running' ? 22 : null,
    dph_total: i.usdPerHour,
  });
  return startFake(
    'vast',
    key,
    async (req, body, f) => {
      const url = req.url ?? '';
      let m: RegExpExecArray | null;
      if (req.method === 'POST' && url === '/api/v0/bundles/') {
        const q = body as { gpu_name?: { eq: string }; num_gpus?: { gte: number }; dph_total?: { lte: number } };
        const offers = f.offers.filter(
          (o) =>
            (!q.gpu_name || o.gpuModel.replace(/ /g, '_').toLowerCase().includes(q.gpu_name.eq.toLowerCase())) &&
            (!q.num_gpus || o.gpuCount >= q.num_gpus.gte) &&
            (!q.dph_total || o.usdPerHour <= q.dph_total.lte),
        );
        return [
          200,
          { offers: offers.map((o) => ({ id: Number(o.id), gpu_name: o.gpuModel.replace(/ /g, '_'), num_gpus: o.gpuCount, gpu_ram: o.vramMb, dph_total: o.usdPerHour, geolocation: o.location, vms_enabled: !!o.vm })) },
        ];
      }
      if (req.method === 'PUT' && (m = /^\/api\/v0\/asks\/(\d+)\/$/.exec(url))) {
        const offer = f.offers.find((o) => o.id === m![1]);
        if (!offer || f.refuseRent === 'gone') return [404, { success: false, error: 'no_such_ask', msg: `Instance type ${m[1]} is no longer available.` }];
        if (f.refuseRent === 'capacity') return [400, { success: false, error: 'insufficient_resources', msg: `ask ${m[1]}: insufficient GPUs free on the machine for this request` }];
        const b = body as { client_id: string; image: string; label: string };
        if (b.client_id !== 'me' || !b.image) return [400, { success: false, error: 'invalid_args', msg: 'client_id and image are required' }];
        const inst: FakeInstance = { id: f.nextId(), label: b.label, offerId: offer.id, usdPerHour: offer.usdPerHour, status: 'starting' };
        f.instances.set(inst.id, inst);
        f.provision(inst);
        return [200, { success: true, new_contract: Number(inst.id) }];
      }
      if (req.method === 'POST' && (m = /^\/api\/v0\/instances\/(\d+)\/ssh\/$/.exec(url))) {
        const inst = f.instances.get(m[1]!);
        if (!inst) return [404, { success: false, error: 'no_such_instance', msg: 'no such instance' }];
        inst.publicKey = (body as { ssh_key: string }).ssh_key;
        return [200, { success: true }];
      }
      if (req.method === 'GET' && url === '/api/v0/instances/') return [200, { instances: [...f.instances.values()].filter((i) => i.status !== 'destroyed').map(vastInstance) }];
      if ((m = /^\/api\/v0\/instances\/(\d+)\/$/.exec(url))) {
        const inst = f.instances.get(m[1]!);
        if (req.method === 'GET') return [200, { instances: inst && inst.status !== 'destroyed' ? vastInstance(inst) : null }];
        if (req.method === 'DELETE') {
          if (!inst || inst.status === 'destroyed') return [404, { success: false, error: 'no_such_instance', msg: 'no such instance' }];
          await f.destroy(inst.id);
          return [200, { success: true }];
        }
      }
      return [404, { success: false, error: 'not_found', msg: `no route ${req.method} ${url}` }];
    },
    // https://docs.vast.ai/api-reference/rate-limits-and-errors: {success, error, msg}; a 429's body is plain text.
    { unauthorized: [401, { success: false, error: 'auth_error', msg: 'Invalid user key' }], rateLimited: [429, 'API requests too frequent: endpoint threshold=2.0 s'] },
    true,
  );
}

/** RunPod: GraphQL at /graphql, errors as {errors: [{message}]}. */
export function fakeRunpod(key = 'runpod-test-key'): Promise<FakeProvider> {
  const pod = (i: FakeInstance) => ({
    id: i.id,
    name: i.label,
    desiredStatus: i.status === 'destroyed' ? 'TERMINATED' : 'RUNNING',
    costPerHr: i.usdPerHour,
    runtime: i.status === 'running' ? { ports: [{ ip: i.host!.address, isIpPublic: true, privatePort: 22, publicPort: 22, type: 'tcp' }] } : null,
  });
  return startFake(
    'runpod',
    key,
    async (req, body, f) => {
      if (req.method !== 'POST' || req.url !== '/graphql') return [404, { errors: [{ message: 'not found' }] }];
      const { query, variables } = body as { query: string; variables: Record<string, any> };
      if (/podFindAndDeployOnDemand/.test(query)) {
        const input = variables.input as { gpuTypeId: string; gpuCount: number; name: string; env: { key: string; value: string }[] };
        const offer = f.offers.find((o) => o.id === input.gpuTypeId);
        // RunPod places the pod itself: an offer taken meanwhile and no capacity are one answer there.
        if (!offer || f.refuseRent)
          return [200, { errors: [{ message: 'There are no longer any instances available with the requested specifications. Please refresh and try again.' }], data: { podFindAndDeployOnDemand: null } }];
        const inst: FakeInstance = { id: `pod${f.nextId()}`, label: input.name, offerId: offer.id, usdPerHour: offer.usdPerHour * input.gpuCount, status: 'starting', publicKey: input.env.find((e) => e.key === 'PUBLIC_KEY')?.value };
        f.instances.set(inst.id, inst);
        f.provision(inst);
        return [200, { data: { podFindAndDeployOnDemand: { id: inst.id, costPerHr: inst.usdPerHour } } }];
      }
      if (/podTerminate/.test(query)) {
        await f.destroy(variables.podId as string);
        return [200, { data: { podTerminate: null } }];
      }
      if (/gpuTypes/.test(query))
        return [
          200,
          { data: { gpuTypes: f.offers.map((o) => ({ id: o.id, displayName: o.gpuModel, memoryInGb: o.vramMb / 1024, lowestPrice: { minimumBidPrice: o.usdPerHour / 2, uninterruptablePrice: o.usdPerHour } })) } },
        ];
      if (/myself/.test(query)) return [200, { data: { myself: { pods: [...f.instances.values()].filter((i) => i.status !== 'destroyed').map(pod) } } }];
      if (/pod\(/.test(query)) {
        const inst = f.instances.get(variables.podId as string);
        return [200, { data: { pod: inst && inst.status !== 'destroyed' ? pod(inst) : null } }];
      }
      return [200, { errors: [{ message: 'unknown query' }] }];
    },
    // GraphQL errors come as {errors: [{message}]} (HTTP 200); a bad key and the rate limit are HTTP statuses.
    { unauthorized: [401, { errors: [{ message: 'Unauthorized' }] }], rateLimited: [429, { errors: [{ message: 'Too many requests, please slow down' }] }] },
    false,
  );
}

/** Hyperbolic's marketplace: /v1/marketplace, errors as {error | detail}. */
export function fakeHyperbolic(key = 'hyperbolic-test-key'): Promise<FakeProvider> {
  return startFake(
    'hyperbolic',
    key,
    async (req, body, f) => {
      if (req.method === 'POST' && req.url === '/v1/marketplace')
        return [
          200,
          {
            instances: f.offers.map((o) => ({
              id: o.id.split('/')[1],
              cluster_name: o.id.split('/')[0],
              status: 'node_ready',
              hardware: { gpus: [{ model: o.gpuModel, ram: o.vramMb }] },
              pricing: { price: { amount: Math.round(o.usdPerHour * 100), period: 'hourly' } },
              gpus_total: o.gpuCount,
              gpus_reserved: 0,
              location: { region: o.location },
            })),
          },
        ];
      if (req.method === 'GET' && req.url === '/v1/marketplace/instances')
        return [
          200,
          {
            instances: [...f.instances.values()]
              .filter((i) => i.status !== 'destroyed')
              .map((i) => ({
                id: i.id,
                sshCommand: i.host ? `ssh ${i.host.loginUser}@${i.host.address} -p 22` : null,
                instance: { status: i.status === 'running' ? 'online' : 'starting', gpu_count: 1, pricing: { price: { amount: Math.round(i.usdPerHour * 100) } } },
                userMetadata: i.label ? { bothub: { label: i.label } } : {},
              })),
          },
        ];
      if (req.method === 'POST' && req.url === '/v1/marketplace/instances/create') {
        const b = body as { cluster_name: string; node_name: string; gpu_count: number; publicKey?: string; userMetadata?: { bothub?: { label?: string } } };
        const offer = f.offers.find((o) => o.id === `${b.cluster_name}/${b.node_name}`);
        if (!offer || f.refuseRent === 'gone') return [404, { detail: `node ${b.node_name} not found in cluster ${b.cluster_name}` }];
        if (f.refuseRent === 'capacity') return [400, { detail: `Not enough GPUs available on node ${b.node_name}: ${b.gpu_count} requested` }];
        const inst: FakeInstance = {
          id: `${b.cluster_name}-${f.nextId()}`,
          label: b.userMetadata?.bothub?.label ?? null,
          offerId: offer.id,
          usdPerHour: offer.usdPerHour * b.gpu_count,
          status: 'starting',
          publicKey: b.publicKey,
        };
        f.instances.set(inst.id, inst);
        f.provision(inst);
        return [200, { instance_name: inst.id }];
      }
      if (req.method === 'POST' && req.url === '/v1/marketplace/instances/terminate') {
        const id = (body as { id: string }).id;
        if (!f.instances.get(id) || f.instances.get(id)!.status === 'destroyed') return [404, { detail: `instance ${id} not found` }];
        await f.destroy(id);
        return [200, { status: 'success' }];
      }
      return [404, { detail: 'Not Found' }];
    },
    // FastAPI's shape: {detail}.
    { unauthorized: [401, { detail: 'Invalid API key' }], rateLimited: [429, { detail: 'Rate limit exceeded: 60 per 1 minute' }] },
    false,
    [{ name: 'ubuntu', sudo: true }],
  );
}
