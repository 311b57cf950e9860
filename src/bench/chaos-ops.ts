import { randomBytes, randomInt } from 'node:crypto';
import type { ApiClient, SandboxT, SnapshotT } from '../api/index.js';
import { ChaosModel, FILES_DIR, type SandboxModel } from './chaos-model.js';

export const OPS = ['create', 'exec', 'snapshot', 'restore', 'branch', 'freeze', 'wake', 'move', 'destroy'] as const;
export type OpName = (typeof OPS)[number];

const MAX_SANDBOXES = 6;
const MAX_SNAPSHOTS = 6;

/** One operation, chosen with its arguments before it starts, so a cut-short one can be looked into after. */
export interface Op {
  name: OpName;
  sandbox: string;
  snapshot?: string;
  leaveRunning?: boolean;
  file?: { path: string; content: string };
  to?: string;
  /** Runs it; resolves once the daemon acknowledged it. */
  run(): Promise<unknown>;
  /** What the acknowledgement means for the model. */
  acknowledged(): void;
}

const pick = <T>(xs: readonly T[]): T | undefined => xs[randomInt(xs.length || 1)];
let counter = 0;
const fresh = (prefix: string) => `${prefix}${(++counter).toString(36)}${randomBytes(2).toString('hex')}`;

export class ChaosOps {
  constructor(
    private readonly api: ApiClient,
    private readonly model: ChaosModel,
    /** A fleet host to move to, or none. */
    private readonly fleetHost: string | undefined,
  ) {}

  private snapshotOp(sb: SandboxModel): Op {
    const snapshot = fresh('s');
    const leaveRunning = randomInt(2) === 0;
    const files = new Map(sb.files);
    return {
      name: 'snapshot',
      sandbox: sb.name,
      snapshot,
      leaveRunning,
      run: () => this.api.progress<SnapshotT>('createSnapshot', { params: { name: sb.name }, body: { name: snapshot, leaveRunning } }, () => undefined),
      acknowledged: () => {
        this.model.snapshots.set(snapshot, { name: snapshot, sandbox: sb.name, files, leaveRunning, peers: sb.peers });
        if (!leaveRunning) Object.assign(sb, { expect: 'snapshotted', snapshot });
      },
    };
  }

  /** A random operation whose preconditions hold in the model; undefined when none of that kind can run now. */
  choose(name: OpName): Op | undefined {
    const { api, model } = this;
    const running = model.running();
    switch (name) {
      case 'create': {
        if (model.sandboxes.size >= MAX_SANDBOXES) return undefined;
        const sandbox = fresh('c');
        const network = randomInt(3) === 0 ? 'peers' : 'default';
        return {
          name,
          sandbox,
          run: () => api.call('createSandbox', { body: { name: sandbox, network, host: 'local' } }),
          acknowledged: () => model.sandboxes.set(sandbox, { name: sandbox, files: new Map(), expect: 'running', host: 'local', peers: network === 'peers' }),
        };
      }
      case 'exec': {
        const sb = pick(model.running(false));
        if (!sb) return undefined;
        const file = { path: `${FILES_DIR}/${fresh('f')}`, content: randomBytes(16).toString('hex') };
        // Written, then fsynced (sync FILE), before the exec returns: acknowledged means on disk.
        const script = `mkdir -p ${FILES_DIR} && printf %s ${file.content} > ${file.path} && sync ${file.path}`;
        return {
          name,
          sandbox: sb.name,
          file,
          run: async () => {
            const r = await api.call('exec', { params: { name: sb.name }, body: { command: ['sh', '-c', script], timeoutMs: 60_000 } });
            if (r.exitCode !== 0) throw new Error(`exec failed: ${r.stderr}`);
          },
          acknowledged: () => sb.files.set(file.path, file.content),
        };
      }
      case 'snapshot': {
        const sb = pick(running);
        if (!sb || model.snapshots.size >= MAX_SNAPSHOTS) return undefined;
        return this.snapshotOp(sb);
      }
      case 'restore': {
        const sb = pick(model.stopped());
        if (!sb) return undefined;
        const snap = model.snapshots.get(sb.snapshot!)!;
        return {
          name,
          sandbox: sb.name,
          snapshot: snap.name,
          run: () => api.progress<SandboxT>('restoreSnapshot', { params: { name: snap.name }, body: {} }, () => undefined),
          acknowledged: () => Object.assign(sb, { expect: 'running', snapshot: undefined, files: new Map(snap.files) }),
        };
      }
      case 'branch': {
        const snap = pick([...model.snapshots.values()]);
        if (!snap || model.sandboxes.size >= MAX_SANDBOXES) return undefined;
        const sandbox = fresh('b');
        return {
          name,
          sandbox,
          snapshot: snap.name,
          run: () => api.progress<SandboxT>('restoreSnapshot', { params: { name: snap.name }, body: { name: sandbox } }, () => undefined),
          acknowledged: () => model.sandboxes.set(sandbox, { name: sandbox, files: new Map(snap.files), expect: 'running', host: 'local', peers: snap.peers }),
        };
      }
      case 'freeze':
      case 'wake': {
        const sb = pick(running);
        if (!sb) return undefined;
        const route = name === 'freeze' ? 'freezeSandbox' : 'resumeSandbox';
        return { name, sandbox: sb.name, run: () => api.call(route, { params: { name: sb.name } }), acknowledged: () => undefined };
      }
      case 'move': {
        if (!this.fleetHost) return undefined;
        const sb = pick(model.running(false).filter((s) => !s.peers));
        if (!sb) return undefined;
        const to = sb.host === 'local' ? this.fleetHost : 'local';
        return {
          name,
          sandbox: sb.name,
          to,
          run: () => api.progress('moveSandbox', { params: { name: sb.name }, body: { to } }, () => undefined),
          acknowledged: () => (sb.host = to),
        };
      }
      case 'destroy': {
        const sb = pick([...model.sandboxes.values()]);
        if (!sb) return undefined;
        return { name, sandbox: sb.name, run: () => api.call('destroySandbox', { params: { name: sb.name } }), acknowledged: () => model.sandboxes.delete(sb.name) };
      }
    }
  }

  /** What must hold first for the operation to mean something: a wake needs a cold sandbox. */
  async prepare(op: Op): Promise<void> {
    if (op.name === 'wake') await this.api.call('freezeSandbox', { params: { name: op.sandbox } });
  }

  /** Keeps the population bounded: a snapshot no sandbox is stopped in goes when there are many. */
  async trim(): Promise<void> {
    if (this.model.snapshots.size < MAX_SNAPSHOTS) return;
    const victim = pick(this.model.free());
    if (!victim) return;
    await this.api.call('deleteSnapshot', { params: { name: victim.name } });
    this.model.snapshots.delete(victim.name);
  }

  /**
   * An operation cut short by the kill may or may not have happened: what the
   * daemon says after its restart decides (either is correct; a third outcome
   * is what verify() then reports).
   */
  async settle(op: Op): Promise<void> {
    const { api, model } = this;
    const real = new Map((await api.call('listSandboxes')).map((s) => [s.name, s]));
    const snaps = new Set((await api.call('listSnapshots', { query: {} })).map((s) => s.name));
    const r = real.get(op.sandbox);
    switch (op.name) {
      case 'create':
      case 'branch':
        if (r) op.acknowledged();
        break;
      case 'destroy':
        if (!r) op.acknowledged();
        break;
      case 'snapshot':
        if (snaps.has(op.snapshot!)) op.acknowledged();
        break;
      case 'restore':
        if (r?.status === 'running') op.acknowledged();
        break;
      case 'move': {
        const sb = model.sandboxes.get(op.sandbox);
        if (sb && r) sb.host = r.host;
        break;
      }
      default:
        break;
    }
  }
}
