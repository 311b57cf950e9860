import { Duplex } from 'node:stream';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import {
  CgroupReader,
  Checkpointer,
  containerId,
  encodeRequest,
  envList,
  ExecSession,
  frame,
  FrameReader,
  FrameType,
  GUEST,
  Runc,
  SandboxRuntime,
  SNAPSHOT_PARTS,
  type CheckpointOptions,
  type InitRequest,
  type RestoreOptions,
  type RuncState,
  type RuntimeConfig,
  type SandboxDefinition,
} from '../../runtime/index.js';

/** What a scripted command is given. */
export interface FakeCommand {
  argv: readonly string[];
  cwd: string;
  tty: boolean;
  /** Everything written to its stdin up to EOF (empty for a terminal or a detached command). */
  stdin: Buffer;
}

/** What a scripted command does: prints, then exits; or runs until a signal ends it. */
export interface FakeResult {
  stdout?: string | Buffer;
  stderr?: string;
  exitCode?: number;
  untilSignal?: boolean;
}

/** Answers commands by their argv; undefined: the default (exit 0, no output). */
export type FakeScript = (cmd: FakeCommand) => FakeResult | undefined;

/** Two connected in-memory streams: what one writes, the other reads (a socketpair without a kernel). */
function streamPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const peer = (i: number) => sides[1 - i]!;
  for (const i of [0, 1])
    sides.push(
      new Duplex({
        read: () => undefined,
        write: (chunk: Buffer, _enc, cb) => {
          peer(i).push(chunk);
          cb();
        },
        final: (cb) => {
          peer(i).push(null);
          cb();
        },
        destroy: (err, cb) => {
          if (!peer(i).destroyed) peer(i).destroy();
          cb(err);
        },
      }),
    );
  return [sides[0]!, sides[1]!];
}

/** Splits an encoded InitRequest (see encodeRequest) back into its fields. */
function decodeRequest(payload: Buffer): InitRequest {
  const f = payload.toString().split('\0');
  const argc = Number(f[7]);
  const argv = f.slice(8, 8 + argc);
  const envc = Number(f[8 + argc]);
  return {
    cwd: f[1]!,
    tty: f[2] === '1' ? { rows: Number(f[3]), cols: Number(f[4]) } : undefined,
    detach: f[5] ? { logPath: f[5], exitPath: f[6]! } : undefined,
    argv,
    env: f.slice(9 + argc, 9 + argc + envc),
  };
}

/** The cgroup of a fake sandbox: nothing is counted, freezing is remembered. */
class FakeCgroup extends CgroupReader {
  constructor(
    host: Host,
    private readonly frozen: Set<string>,
    private readonly id: string,
  ) {
    super(host, `/bothub/${id}`);
  }
  override setFrozen(frozen: boolean): Promise<void> {
    if (frozen) this.frozen.add(this.id);
    else this.frozen.delete(this.id);
    return Promise.resolve();
  }
  override setCpuLimit(): Promise<void> {
    return Promise.resolve();
  }
  override oomKills() {
    return Promise.resolve(0);
  }
  override memoryBytes() {
    return Promise.resolve(0);
  }
  override cpuUsageNs() {
    return Promise.resolve(0);
  }
  override workingSetBytes() {
    return Promise.resolve(0);
  }
  override memoryLimitBytes() {
    return Promise.resolve(null);
  }
  override processes() {
    return Promise.resolve([] as number[]);
  }
  override pids() {
    return Promise.resolve(0);
  }
}

/** runc's view of the fake containers: the in-memory records. */
class FakeRunc extends Runc {
  constructor(
    host: Host,
    root: string,
    private readonly containers: Map<string, RuncState>,
  ) {
    super(host, root);
  }
  override run(): Promise<void> {
    return Promise.reject(new Error('the fake runtime starts containers itself'));
  }
  override state(id: string) {
    return Promise.resolve(this.containers.get(id));
  }
  override list() {
    return Promise.resolve([...this.containers.values()]);
  }
  override initPid(id: string) {
    return Promise.resolve(this.containers.get(id)?.pid);
  }
  override killNow(id: string) {
    return Promise.resolve(void this.containers.delete(id));
  }
  override delete(id: string) {
    return Promise.resolve(void this.containers.delete(id));
  }
  override kill(id: string) {
    return Promise.resolve(void this.containers.delete(id));
  }
  override resume(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c?.status === 'paused') c.status = 'running';
    return Promise.resolve();
  }
  override version() {
    return Promise.resolve('fake');
  }
}

/**
 * A runtime for tests that check what the API says (validation, access,
 * error shapes) and need no root: containers are in-memory records, the
 * sandbox's files are plain directories under the data dir (no mounts, no
 * network namespace, no bridge), and commands are answered by a script
 * over the real exec protocol (ExecSession reads the frames init would send).
 */
export class FakeRuntime extends SandboxRuntime {
  private readonly containers = new Map<string, RuncState>();
  readonly frozen = new Set<string>();
  override readonly runc: Runc;
  private nextPid = 1000;
  /** Replace to script commands; see FakeScript. */
  script: FakeScript = () => undefined;

  constructor(
    private readonly fakeHost: Host,
    config: RuntimeConfig,
    log: Logger,
  ) {
    super(fakeHost, config, log);
    this.runc = new FakeRunc(fakeHost, config.layout.runcRoot, this.containers);
  }

  private async makeDirs(def: SandboxDefinition): Promise<void> {
    const p = this.paths(def.id);
    await Promise.all([p.rootfs, p.guest, p.etc, p.upper, p.work, p.execs].map((d) => this.fakeHost.mkdir(d, { recursive: true, mode: 0o700 })));
    if (!(await this.fakeHost.exists(p.consoleLog))) await this.fakeHost.writeFile(p.consoleLog, '');
  }

  /** Marks the container running (a restore or a start ends here). */
  async run(def: SandboxDefinition): Promise<void> {
    await this.makeDirs(def);
    await this.writeEtc(def);
    this.containers.set(containerId(def.id), { id: containerId(def.id), pid: this.nextPid++, status: 'running' });
  }

  override async create(def: SandboxDefinition): Promise<void> {
    if (def.imageRootfs.split(':').some((d) => !d)) throw new BothubError('NOT_FOUND', `the image of sandbox "${def.name}" is gone; destroy the sandbox`);
    await this.run(def);
  }
  override start(def: SandboxDefinition) {
    return this.run(def);
  }
  override stop(def: SandboxDefinition) {
    return this.release(def);
  }
  override release(def: SandboxDefinition): Promise<void> {
    this.containers.delete(containerId(def.id));
    this.frozen.delete(def.id);
    return Promise.resolve();
  }
  override releaseMounts() {
    return Promise.resolve();
  }
  override mountsUnder() {
    return Promise.resolve([] as string[]);
  }
  override detachStrayLoops() {
    return Promise.resolve([] as string[]);
  }
  override mountLayer(def: SandboxDefinition): Promise<void> {
    return this.makeDirs(def);
  }
  override createNetwork() {
    return Promise.resolve();
  }
  override writePeerRules() {
    return Promise.resolve();
  }
  override cgroup(id: string) {
    return new FakeCgroup(this.fakeHost, this.frozen, id);
  }

  override exec(def: SandboxDefinition, request: Omit<InitRequest, 'env'> & { env?: Record<string, string> }): Promise<ExecSession> {
    if (this.containers.get(containerId(def.id))?.status !== 'running')
      return Promise.reject(new BothubError('RUNTIME_FAILED', "the sandbox's init is not answering; read its console log, then stop and start the sandbox"));
    const [client, init] = streamPair();
    this.serve(def, init);
    const session = new ExecSession(client);
    client.write(encodeRequest({ ...request, env: envList({ ...def.env, ...request.env }) }));
    return Promise.resolve(session);
  }

  /** The init's side of one exec connection: reads the request, answers per the script. */
  private serve(def: SandboxDefinition, socket: Duplex): void {
    const reader = new FrameReader();
    const stdin: Buffer[] = [];
    let request: InitRequest | undefined;
    let result: FakeResult = {};
    const pid = this.nextPid++;
    const send = (type: number, payload?: Buffer) => {
      if (!socket.destroyed && socket.writable) socket.write(frame(type, payload));
    };
    const exit = (code: number, signal = 0) => {
      const p = Buffer.alloc(8);
      p.writeInt32BE(code, 0);
      p.writeInt32BE(signal, 4);
      send(FrameType.Exit, p);
      socket.end();
    };
    const finish = () => {
      if (result.stdout) send(FrameType.Stdout, Buffer.from(result.stdout));
      if (result.stderr) send(FrameType.Stderr, Buffer.from(result.stderr));
      exit(result.exitCode ?? 0);
    };
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) =>
      reader.push(chunk, (type, payload) => {
        if (type === FrameType.Request) {
          request = decodeRequest(payload);
          result = this.script({ argv: request.argv, cwd: request.cwd, tty: !!request.tty, stdin: Buffer.alloc(0) }) ?? {};
          const started = Buffer.alloc(4);
          started.writeInt32BE(pid, 0);
          send(FrameType.Started, started);
          if (request.detach) void this.detached(def, request.detach, result).finally(() => socket.end());
          else if (request.tty && !result.untilSignal) finish();
        } else if (type === FrameType.Stdin) stdin.push(Buffer.from(payload));
        else if (type === FrameType.StdinEof && request && !request.tty && !result.untilSignal) {
          result = this.script({ argv: request.argv, cwd: request.cwd, tty: false, stdin: Buffer.concat(stdin) }) ?? {};
          finish();
        } else if (type === FrameType.Signal) exit(-1, payload.readInt32BE(0));
      }),
    );
  }

  /** A detached command writes its output and exit status where init would: under the sandbox's /.bothub. */
  private async detached(def: SandboxDefinition, files: { logPath: string; exitPath: string }, result: FakeResult): Promise<void> {
    const onHost = (guest: string) => join(this.paths(def.id).guest, guest.slice(GUEST.dir.length));
    await this.fakeHost.mkdir(dirname(onHost(files.logPath)), { recursive: true });
    await this.fakeHost.writeFile(onHost(files.logPath), Buffer.concat([Buffer.from(result.stdout ?? ''), Buffer.from(result.stderr ?? '')]));
    if (!result.untilSignal) await this.fakeHost.writeFile(onHost(files.exitPath), `${result.exitCode ?? 0} 0\n`);
  }

  /** A snapshot of a fake sandbox: its files and logs, no memory image. */
  async dump(def: SandboxDefinition, dir: string, leaveRunning: boolean): Promise<void> {
    const p = this.paths(def.id);
    await Promise.all([join(dir, SNAPSHOT_PARTS.criu), join(dir, 'fs')].map((d) => this.fakeHost.mkdir(d, { recursive: true })));
    await this.fakeHost.run('tar', ['-C', p.upper, '-cf', join(dir, SNAPSHOT_PARTS.layer), '.']);
    await this.fakeHost.run('cp', [p.consoleLog, join(dir, SNAPSHOT_PARTS.console)]);
    await this.fakeHost.run('cp', ['-a', p.execs, join(dir, SNAPSHOT_PARTS.execs)]);
    if (!leaveRunning) await this.release(def);
  }

  async undump(def: SandboxDefinition, dir: string): Promise<void> {
    const p = this.paths(def.id);
    await this.fakeHost.rm(p.dir, { recursive: true, force: true });
    await this.makeDirs(def);
    await this.fakeHost.run('tar', ['-C', p.upper, '-xf', join(dir, SNAPSHOT_PARTS.layer)]);
    await this.fakeHost.run('cp', [join(dir, SNAPSHOT_PARTS.console), p.consoleLog]);
    await this.fakeHost.rm(p.execs, { recursive: true, force: true });
    await this.fakeHost.run('cp', ['-a', join(dir, SNAPSHOT_PARTS.execs), p.execs]);
    await this.run(def);
  }
}

/** Snapshots and restores of fake sandboxes: files only (there is no process memory to dump). */
export class FakeCheckpointer extends Checkpointer {
  constructor(
    host: Host,
    private readonly fake: FakeRuntime,
    log: Logger,
  ) {
    super(host, fake, 'criu', log);
  }
  override async checkpoint(def: SandboxDefinition, dir: string, op: CheckpointOptions): Promise<number> {
    await this.fake.dump(def, dir, op.leaveRunning);
    return 0;
  }
  /** Always whole: there are no pages to stream in. */
  override async restore(def: SandboxDefinition, snapshotDir: string, _op: RestoreOptions): Promise<undefined> {
    await this.fake.undump(def, snapshotDir);
    return undefined;
  }
}
