import type { CallOptions } from './deadline.js';
import { Commands } from './commands.js';
import { pollEvents, type EventSource, type EventsOptions } from './events.js';
import { execStream, type ExecOptions, type ExecResult } from './exec.js';
import { Files } from './files.js';
import type { Static } from 'typebox';
import type { EventT, MoveResultT, SandboxT, ShareLink, ShareT, SnapshotT } from './generated/schemas.js';
import { followLog, readLog, type LogChunk, type LogReadOptions } from './logs.js';
import type { ProgressHandler, Transport } from './transport.js';

export type OperationOptions = CallOptions & { onProgress?: ProgressHandler };
export type PreviewUrl = SandboxT['urls'][number];

/** One sandbox, by name: what it is (`info`, as last read) and everything it can do. */
export class Sandbox {
  /** Background commands and the exec ledger. */
  readonly commands: Commands;
  /** Files and directories inside it. */
  readonly files: Files;

  constructor(
    private readonly transport: Transport,
    public info: SandboxT,
    private readonly eventSource: EventSource = pollEvents,
  ) {
    this.commands = new Commands(transport, info.name);
    this.files = new Files(transport, info.name);
  }

  get name(): string {
    return this.info.name;
  }

  private get params() {
    return { name: this.info.name };
  }

  private async update(reply: Promise<SandboxT>): Promise<this> {
    this.info = await reply;
    return this;
  }

  /** Reads its record again (status, thermal state, URLs). */
  refresh(opts?: CallOptions): Promise<this> {
    return this.update(this.transport.call('getSandbox', { params: this.params }, opts));
  }

  /**
   * Runs a command to completion, streaming its output (a string runs with
   * /bin/sh -c). A non-zero exit is in the result, not thrown, unless `check`.
   */
  exec(cmd: string | string[], opts?: ExecOptions): Promise<ExecResult> {
    return execStream(this.transport, this.info.name, cmd, opts);
  }

  /** The console (main process) output from a byte offset. */
  logs(opts?: LogReadOptions): Promise<LogChunk> {
    return readLog(this.transport, 'logs', this.params, opts);
  }

  /** The console output live, while the sandbox runs. */
  followLogs(opts?: LogReadOptions): AsyncGenerator<Uint8Array> {
    return followLog(this.transport, 'logs', this.params, opts);
  }

  /**
   * Checkpoints processes, memory and files. `leaveRunning` keeps it running;
   * otherwise it stops, snapshotted (the API's default).
   */
  snapshot(name: string, opts: OperationOptions & { leaveRunning?: boolean } = {}): Promise<SnapshotT> {
    const body = { name, ...(opts.leaveRunning !== undefined ? { leaveRunning: opts.leaveRunning } : {}) };
    return this.transport.operation('createSnapshot', { params: this.params, body }, opts);
  }

  /** Serves a port at a preview URL (private unless `public`); returns that URL. */
  async publish(port: number, opts: CallOptions & { public?: boolean } = {}): Promise<PreviewUrl> {
    await this.update(this.transport.call('publish', { params: this.params, body: { port, ...(opts.public !== undefined ? { public: opts.public } : {}) } }, opts));
    const url = this.info.urls.find((u) => u.port === port);
    if (!url) throw new Error(`the daemon published port ${port} of ${this.name} but lists no URL for it`);
    return url;
  }

  unpublish(port: number, opts?: CallOptions): Promise<this> {
    return this.update(this.transport.call('unpublish', { params: { name: this.info.name, port } }, opts));
  }

  /** A signed, expiring, revocable link to a private preview (default one hour). */
  share(port: number, opts: CallOptions & { ttlSeconds?: number } = {}): Promise<Static<typeof ShareLink>> {
    return this.transport.call('createShare', { params: this.params, body: { port, ...(opts.ttlSeconds ? { ttlSeconds: opts.ttlSeconds } : {}) } }, opts);
  }

  shares(opts?: CallOptions): Promise<ShareT[]> {
    return this.transport.call('listShares', { params: this.params }, opts);
  }

  /** Warm: every process frozen in place, memory kept. */
  pause(opts?: CallOptions): Promise<this> {
    return this.update(this.transport.call('pauseSandbox', { params: this.params }, opts));
  }

  /** Back to hot from warm or cold. */
  resume(opts?: CallOptions): Promise<this> {
    return this.update(this.transport.call('resumeSandbox', { params: this.params }, { timeoutMs: this.transport.options.operationTimeoutMs, ...opts }));
  }

  /** Cold: checkpointed to disk, processes gone, memory free; the next request wakes it. */
  freeze(opts?: CallOptions): Promise<this> {
    return this.update(this.transport.call('freezeSandbox', { params: this.params }, { timeoutMs: this.transport.options.operationTimeoutMs, ...opts }));
  }

  stop(opts?: CallOptions): Promise<this> {
    return this.update(this.transport.call('stopSandbox', { params: this.params }, opts));
  }

  start(opts?: CallOptions): Promise<this> {
    return this.update(this.transport.call('startSandbox', { params: this.params }, opts));
  }

  /** Moves it to another fleet host; on any failure it keeps running where it was. */
  async move(to: string, opts: OperationOptions = {}): Promise<MoveResultT> {
    const result = await this.transport.operation<MoveResultT>('moveSandbox', { params: this.params, body: { to } }, opts);
    this.info = result.sandbox;
    return result;
  }

  /** Removes it and everything it holds. */
  async destroy(opts?: CallOptions): Promise<void> {
    await this.transport.call('destroySandbox', { params: this.params }, opts);
  }

  /** Its state changes as they happen. */
  events(opts: Omit<EventsOptions, 'sandbox'> = {}): AsyncIterable<EventT> {
    return this.eventSource(this.transport, { ...opts, sandbox: this.info.name });
  }
}
