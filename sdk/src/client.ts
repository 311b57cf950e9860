import type { CallOptions } from './deadline.js';
import { pollEvents, type EventSource, type EventsOptions } from './events.js';
import type { JsonRouteName, ReplyOf } from './generated/routes.js';
import type { AddHostT, CreateSandboxT, EventT, HostT, HostVerdictT, SandboxT, SnapshotT } from './generated/schemas.js';
import { Sandbox, type OperationOptions } from './sandbox.js';
import { Transport, type CallArgs } from './transport.js';

export interface BothubOptions {
  /** The daemon, e.g. http://127.0.0.1:7070 (default: $BOTHUB_URL, else that). */
  url?: string;
  /** An API key (default: $BOTHUB_TOKEN). */
  token?: string;
  /** Deadline of every call unless it passes its own `timeoutMs`, in ms (default 60 s; 0: none). Exec uses it too. */
  timeoutMs?: number;
  /** Deadline of long operations (snapshot, restore, branch, move, freeze, resume, directory copies), in ms (default 10 min). */
  operationTimeoutMs?: number;
  /** Where `events()` comes from (default: polling the events list). */
  events?: EventSource;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
}

/**
 * A bothub client. Every method takes `{ signal, timeoutMs }`; every failure
 * is a BothubError of its family (NotFoundError, NameTakenError, …).
 *
 *     const bothub = new Bothub({ url, token });
 *     const box = await bothub.sandboxes.create({ name: 'agent' });
 *     const r = await box.exec('python3 -c "print(1+1)"');
 */
export class Bothub {
  readonly transport: Transport;
  private readonly eventSource: EventSource;

  constructor(options: BothubOptions = {}) {
    this.transport = new Transport({
      url: options.url ?? process.env.BOTHUB_URL ?? 'http://127.0.0.1:7070',
      token: options.token ?? process.env.BOTHUB_TOKEN,
      timeoutMs: options.timeoutMs ?? 60_000,
      operationTimeoutMs: options.operationTimeoutMs ?? 600_000,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.eventSource = options.events ?? pollEvents;
  }

  private long(opts?: CallOptions): CallOptions {
    return { timeoutMs: this.transport.options.operationTimeoutMs, ...opts };
  }

  private handle = (info: SandboxT) => new Sandbox(this.transport, info, this.eventSource);

  /** Any JSON route of the table, typed by its schemas: for what the methods below do not cover (users, secrets, images…). */
  call<K extends JsonRouteName>(route: K, args: CallArgs<K> = {} as CallArgs<K>, opts?: CallOptions): Promise<ReplyOf<K>> {
    return this.transport.call(route, args, opts);
  }

  health(opts?: CallOptions) {
    return this.call('health', {}, opts);
  }

  whoami(opts?: CallOptions) {
    return this.call('whoami', {}, opts);
  }

  readonly sandboxes = {
    /** Creates and starts a sandbox; resolves once it is ready to exec. */
    create: async (spec: CreateSandboxT = {}, opts?: CallOptions): Promise<Sandbox> => this.handle(await this.call('createSandbox', { body: spec }, this.long(opts))),
    list: async (opts?: CallOptions): Promise<Sandbox[]> => (await this.call('listSandboxes', {}, opts)).map(this.handle),
    get: async (name: string, opts?: CallOptions): Promise<Sandbox> => this.handle(await this.call('getSandbox', { params: { name } }, opts)),
    destroy: async (name: string, opts?: CallOptions): Promise<void> => this.call('destroySandbox', { params: { name } }, opts),
  };

  readonly snapshots = {
    list: (filter: { sandbox?: string } = {}, opts?: CallOptions): Promise<SnapshotT[]> => this.call('listSnapshots', { query: filter }, opts),
    get: (name: string, opts?: CallOptions): Promise<SnapshotT> => this.call('getSnapshot', { params: { name } }, opts),
    delete: (name: string, opts?: CallOptions): Promise<void> => this.call('deleteSnapshot', { params: { name } }, opts),
    /** Resumes the snapshot's own sandbox where it was taken (on `host` when given). */
    restore: async (name: string, opts: OperationOptions & { host?: string } = {}): Promise<Sandbox> =>
      this.handle(await this.transport.operation<SandboxT>('restoreSnapshot', { params: { name }, body: opts.host ? { host: opts.host } : {} }, opts)),
    /** A new sandbox `newName` from the snapshot, processes and memory included; the original is untouched. */
    branch: async (name: string, newName: string, opts: OperationOptions & { host?: string } = {}): Promise<Sandbox> =>
      this.handle(await this.transport.operation<SandboxT>('restoreSnapshot', { params: { name }, body: { name: newName, ...(opts.host ? { host: opts.host } : {}) } }, opts)),
    /** Every host with the compatibility gate's verdict for restoring this snapshot there. */
    hosts: (name: string, opts?: CallOptions): Promise<HostVerdictT[]> => this.call('snapshotHosts', { params: { name } }, opts),
  };

  readonly hosts = {
    list: (opts?: CallOptions): Promise<HostT[]> => this.call('listHosts', {}, opts),
    get: (name: string, opts?: CallOptions): Promise<HostT> => this.call('getHost', { params: { name } }, opts),
    /** Adds a host over SSH (admin): pins its key and checks it can run and checkpoint sandboxes. */
    add: (host: AddHostT, opts?: CallOptions): Promise<HostT> => this.call('addHost', { body: host }, this.long(opts)),
    check: (name: string, opts?: CallOptions): Promise<HostT> => this.call('checkHost', { params: { name } }, this.long(opts)),
    remove: (name: string, opts?: CallOptions): Promise<void> => this.call('removeHost', { params: { name } }, opts),
  };

  readonly shares = {
    revoke: (id: string, opts?: CallOptions): Promise<void> => this.call('revokeShare', { params: { id } }, opts),
  };

  /**
   * State changes of sandboxes as they happen (all of yours, or one's), as an
   * async iterator; `signal` or `break` ends it.
   */
  events(opts: EventsOptions = {}): AsyncIterable<EventT> {
    return this.eventSource(this.transport, opts);
  }
}
