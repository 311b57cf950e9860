import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import ssh2, { type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { BothubError } from '../core/index.js';
import { CommandError, type Host, type RunOptions, type RunResult } from './host.js';
import { SftpFiles } from './sftp-files.js';
import { Slots } from './slots.js';

export interface SshTarget {
  address: string;
  port: number;
  username: string;
  privateKey: string;
}

/** OpenSSH's way of writing a host key fingerprint: `SHA256:<base64, no padding>`. */
export const hostKeyFingerprint = (key: Buffer) => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;

/** One argument for the remote shell: single-quoted, quotes inside closed and reopened. */
export const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/**
 * Starts a command. sshd refuses a session beyond its MaxSessions with "open
 * failed" (reason 2), and a session this side saw close may not be freed there
 * yet: such a refusal is asked again shortly, a few seconds at most.
 */
function execSoon(c: ssh2.Client, command: string, done: (err: Error | undefined, ch?: ssh2.ClientChannel) => void, tries = 0): void {
  c.exec(command, (err, ch) => {
    if (err && (err as Error & { reason?: number }).reason === 2 && tries < 20) setTimeout(() => attempt(() => execSoon(c, command, done, tries + 1), done), 25 * (tries + 1));
    else done(err, ch);
  });
}

/** Runs `f`, handing what it throws to `done`. */
function attempt(f: () => void, done: (err: Error) => void): void {
  try {
    f();
  } catch (e) {
    done(e instanceof Error ? e : new Error(String(e)));
  }
}

/**
 * Runs programs on a fleet host over SSH (ssh2). SSH carries one command
 * string, so every argument is quoted for the remote shell: the same argument
 * arrays as LocalHost, never a string built from input. The host key is pinned:
 * `pinned` undefined accepts the first key seen (then read `hostKey`), any
 * other key is refused with both fingerprints in the error. Its files are
 * SftpFiles', over the same connection.
 */
export class SshHost extends SftpFiles implements Host {
  private client: Promise<ssh2.Client> | undefined;
  /**
   * sshd allows 10 sessions on a connection (MaxSessions), the SFTP session
   * among them, and refuses the next; a refused command drops the connection,
   * and with it every command running on it. So at most 8 commands run at
   * once; more wait their turn.
   */
  private readonly commands = new Slots(8);
  private sftpSession: Promise<SFTPWrapper> | undefined;
  /** The fingerprint the server presented on the last connection. */
  hostKey: string | undefined;

  constructor(
    readonly name: string,
    private readonly target: SshTarget,
    private readonly pinned: string | undefined,
    private readonly timeoutMs = 10_000,
  ) {
    super();
  }

  private connect(): Promise<ssh2.Client> {
    if (this.client) return this.client;
    const where = `${this.target.username}@${this.target.address}:${this.target.port}`;
    this.client = new Promise<ssh2.Client>((resolve, reject) => {
      const c = new ssh2.Client();
      let keyRefused = false;
      const config: ConnectConfig = {
        host: this.target.address,
        port: this.target.port,
        username: this.target.username,
        privateKey: this.target.privateKey,
        readyTimeout: this.timeoutMs,
        keepaliveInterval: 5000,
        keepaliveCountMax: 2,
        hostVerifier: (key: Buffer) => {
          this.hostKey = hostKeyFingerprint(key);
          keyRefused = this.pinned !== undefined && this.pinned !== this.hostKey;
          return !keyRefused;
        },
      };
      c.once('ready', () => resolve(c));
      c.on('error', (e: Error & { level?: string }) => {
        this.client = undefined;
        if (keyRefused)
          reject(
            new BothubError(
              'FORBIDDEN',
              `host "${this.name}" (${where}) presented host key ${this.hostKey}, but ${this.pinned} is pinned; if it was reinstalled, remove it (\`DELETE /api/v1/hosts/${this.name}\`) and add it again (\`POST /api/v1/hosts\`)`,
            ),
          );
        else if (e.level === 'client-authentication')
          reject(new BothubError('INVALID_INPUT', `host "${this.name}" refused the SSH key for ${where}; add its public key to ~${this.target.username}/.ssh/authorized_keys there`));
        else
          reject(
            new BothubError(
              'UNAVAILABLE',
              `cannot reach host "${this.name}" over SSH at ${where} (${(e as NodeJS.ErrnoException).code ?? e.message}); is it up, and is sshd listening?`,
            ),
          );
      });
      c.on('close', () => {
        this.client = undefined;
        this.sftpSession = undefined;
      });
      c.connect(config);
    });
    return this.client;
  }

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (options.stdinFd !== undefined) throw new BothubError('INTERNAL', 'a local file descriptor cannot be stdin of a command on another host');
    const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const line = [...(env.length ? ['env', ...env] : []), command, ...args].map(shellQuote).join(' ');
    const full = options.cwd ? `cd ${shellQuote(options.cwd)} && exec ${line}` : `exec ${line}`;
    await this.commands.acquire(options.signal, () => new BothubError('ABORTED', `${command} on host "${this.name}" was cancelled`));
    let stream: ssh2.ClientChannel;
    try {
      // A connection that cannot start a command is worth nothing: it is dropped, and the next call starts a fresh one.
      stream = await this.channel<ssh2.ClientChannel>(
        (c, done) => execSoon(c, full, done),
        (err) => `did not start the command (${err.message}); is it going down?`,
        true,
      );
    } catch (e) {
      this.commands.release();
      throw e;
    }
    stream.once('close', () => this.commands.release());
    return new Promise<RunResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      let code = 1;
      const onAbort = () => stream.close();
      // Cancelled while the channel opened: nothing is started there to wait for input that never comes.
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.stdout) stream.pipe(options.stdout, { end: false });
      else
        stream.on('data', (b: Buffer) => {
          out.push(b);
          options.onStdout?.(b.toString());
        });
      stream.stderr.on('data', (b: Buffer) => {
        errs.push(b);
        options.onStderr?.(b.toString());
      });
      stream.on('exit', (c: number | null, signal?: string) => (code = c ?? (signal ? 128 : 1)));
      stream.on('close', () => {
        options.signal?.removeEventListener('abort', onAbort);
        if (options.signal?.aborted) return reject(new BothubError('ABORTED', `${command} on host "${this.name}" was cancelled`));
        const result = { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(errs).toString() };
        if (code !== 0 && !options.allowFailure) reject(new CommandError(command, args, result));
        else resolve(result);
      });
      if (options.input !== undefined) stream.end(options.input);
      else if (options.stdin) options.stdin.pipe(stream);
      else stream.end();
    });
  }

  /** The connection's SFTP session, opened on first use and again after it closes. */
  protected sftp(): Promise<SFTPWrapper> {
    if (this.sftpSession) return this.sftpSession;
    const session = this.channel<SFTPWrapper>(
      (c, done) => c.sftp(done),
      (err) => `does not offer SFTP (${err.message}); its sshd_config needs \`Subsystem sftp internal-sftp\` (Debian's default has it)`,
    );
    const forget = () => {
      if (this.sftpSession === session) this.sftpSession = undefined;
    };
    session.then((s) => s.once('close', forget), forget);
    this.sftpSession = session;
    return session;
  }

  /**
   * A stream to a Unix socket on the host (OpenSSH's direct-streamlocal): how
   * the control plane reaches the host's agent, authenticated by this SSH session.
   */
  async openSocket(path: string): Promise<Duplex> {
    return this.channel<ssh2.Channel>(
      (c, done) => c.openssh_forwardOutStreamLocal(path, done),
      (err) => `bothub's agent does not answer at ${path} (${err.message}); check the host (\`POST /api/v1/hosts/${this.name}/check\`)`,
    );
  }

  /** A TCP connection made from the host (direct-tcpip): reaches a sandbox's address on that host's bridge. */
  async openTcp(address: string, port: number): Promise<Duplex> {
    return this.channel<ssh2.Channel>(
      (c, done) => c.forwardOut('127.0.0.1', 0, address, port, done),
      (err) => `could not connect to ${address}:${port} (${err.message})`,
    );
  }

  /**
   * Opens a channel. A peer that vanished without a word can leave a
   * connection unanswered until keepalives give up: a channel that does not
   * open in time drops the connection, so the next call starts a fresh one.
   */
  private channel<T extends ssh2.Channel | SFTPWrapper>(
    open: (c: ssh2.Client, done: (err: Error | undefined, ch?: T) => void) => void,
    failure: (err: Error) => string,
    dropOnError = false,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        this.drop();
        reject(new BothubError('UNAVAILABLE', `host "${this.name}" did not open an SSH channel within ${this.timeoutMs / 1000} s; is it up?`));
      }, this.timeoutMs);
      const done = (err: Error | undefined, ch?: T) => {
        clearTimeout(timer);
        if (late) return void ch?.end();
        if (err instanceof BothubError) return reject(err); // the connection itself failed, and says why
        if (err || !ch) {
          if (dropOnError) this.drop();
          return reject(new BothubError('UNAVAILABLE', `host "${this.name}": ${failure(err ?? new Error('no channel'))}`));
        }
        resolve(ch);
      };
      // ssh2 throws "Not connected" at once on a connection that closed after connect() handed it out: a failure to
      // open like any other, never an unhandled rejection that would end the daemon.
      void this.connect().then((c) => attempt(() => open(c, done), done), done);
    });
  }

  private drop(): void {
    void this.client?.then(
      (c) => c.end(),
      () => undefined,
    );
    this.client = undefined;
    this.sftpSession = undefined;
  }

  async close(): Promise<void> {
    this.sftpSession = undefined;
    const c = await this.client?.catch(() => undefined);
    c?.end();
    this.client = undefined;
  }
}
