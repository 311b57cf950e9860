import type { CallOptions } from './deadline.js';
import { commandLine } from './exec.js';
import type { ExecRecordT } from './generated/schemas.js';
import { followLog, readLog, type LogChunk, type LogReadOptions } from './logs.js';
import type { Transport } from './transport.js';

/** A command running in the background (`exec -d`): it runs on with no client; its output goes to its own log. */
export class Command {
  constructor(
    private readonly transport: Transport,
    readonly sandbox: string,
    /** The ledger record as last read. */
    public info: ExecRecordT,
  ) {}

  get id(): string {
    return this.info.id;
  }

  private get params() {
    return { name: this.sandbox, id: this.info.id };
  }

  /** Reads the record again (status, exit code, output size). */
  async refresh(opts?: CallOptions): Promise<ExecRecordT> {
    return (this.info = await this.transport.call('getExec', { params: this.params }, opts));
  }

  /** Its output from a byte offset; `nextOffset` is where to read next. */
  logs(opts?: LogReadOptions): Promise<LogChunk> {
    return readLog(this.transport, 'execLogs', this.params, opts);
  }

  /** Its output live from an offset, until it ends. */
  follow(opts?: LogReadOptions): AsyncGenerator<Uint8Array> {
    return followLog(this.transport, 'execLogs', this.params, opts);
  }

  /** Waits for it to end (following its output into `onOutput`), then returns its record. */
  async wait(opts: CallOptions & { onOutput?: (data: string) => void } = {}): Promise<ExecRecordT> {
    const decoder = new TextDecoder();
    for await (const chunk of this.follow({ ...opts, timeoutMs: opts.timeoutMs ?? this.transport.options.timeoutMs })) opts.onOutput?.(decoder.decode(chunk, { stream: true }));
    return this.refresh(opts);
  }

  /** Sends a signal (default SIGTERM) to its process group. */
  async kill(signal: number | string = 'TERM', opts?: CallOptions): Promise<ExecRecordT> {
    return (this.info = await this.transport.call('killExec', { params: this.params, body: { signal } }, opts));
  }
}

/** A sandbox's background commands and its exec ledger. */
export class Commands {
  constructor(
    private readonly transport: Transport,
    readonly sandbox: string,
  ) {}

  /** Starts a command in the background (a string runs with /bin/sh -c). */
  async start(cmd: string | string[], opts: CallOptions & { env?: Record<string, string>; workdir?: string } = {}): Promise<Command> {
    const body = { command: commandLine(cmd), ...(opts.env ? { env: opts.env } : {}), ...(opts.workdir ? { workdir: opts.workdir } : {}) };
    return new Command(this.transport, this.sandbox, await this.transport.call('startExec', { params: { name: this.sandbox }, body }, opts));
  }

  /** Every command run in the sandbox, oldest first. */
  async list(opts?: CallOptions): Promise<Command[]> {
    return (await this.transport.call('listExecs', { params: { name: this.sandbox } }, opts)).map((r) => new Command(this.transport, this.sandbox, r));
  }

  async get(id: string, opts?: CallOptions): Promise<Command> {
    return new Command(this.transport, this.sandbox, await this.transport.call('getExec', { params: { name: this.sandbox, id } }, opts));
  }
}
