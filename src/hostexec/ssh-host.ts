import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import ssh2, { type ConnectConfig } from 'ssh2';
import { BothubError } from '../core/index.js';
import { CommandError, type Host, type RunOptions, type RunResult } from './host.js';

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
 * Runs programs on a fleet host over SSH (ssh2). SSH carries one command
 * string, so every argument is quoted for the remote shell: the same argument
 * arrays as LocalHost, never a string built from input. The host key is pinned:
 * `pinned` undefined accepts the first key seen (then read `hostKey`), any
 * other key is refused with both fingerprints in the error.
 */
export class SshHost implements Host {
  private client: Promise<ssh2.Client> | undefined;
  /** The fingerprint the server presented on the last connection. */
  hostKey: string | undefined;

  constructor(
    readonly name: string,
    private readonly target: SshTarget,
    private readonly pinned: string | undefined,
    private readonly timeoutMs = 10_000,
  ) {}

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
      c.once('error', (e: Error & { level?: string }) => {
        this.client = undefined;
        if (keyRefused)
          reject(
            new BothubError(
              'FORBIDDEN',
              `host "${this.name}" (${where}) presented host key ${this.hostKey}, but ${this.pinned} is pinned; if it was reinstalled, remove it (\`bothub host rm ${this.name}\`) and add it again`,
            ),
          );
        else if (e.level === 'client-authentication')
          reject(new BothubError('FORBIDDEN', `host "${this.name}" refused the SSH key for ${where}; add its public key to ~${this.target.username}/.ssh/authorized_keys there`));
        else
          reject(
            new BothubError(
              'UNAVAILABLE',
              `cannot reach host "${this.name}" over SSH at ${where} (${(e as NodeJS.ErrnoException).code ?? e.message}); is it up, and is sshd listening?`,
            ),
          );
      });
      c.on('close', () => (this.client = undefined));
      c.connect(config);
    });
    return this.client;
  }

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (options.stdinFd !== undefined) throw new BothubError('INTERNAL', 'a local file descriptor cannot be stdin of a command on another host');
    const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const line = [...(env.length ? ['env', ...env] : []), command, ...args].map(shellQuote).join(' ');
    const full = options.cwd ? `cd ${shellQuote(options.cwd)} && exec ${line}` : `exec ${line}`;
    const client = await this.connect();
    return new Promise<RunResult>((resolve, reject) => {
      client.exec(full, (err, stream) => {
        if (err) {
          // A connection that cannot open channels is worth nothing: the next call starts a fresh one.
          this.client = undefined;
          client.end();
          return reject(new BothubError('UNAVAILABLE', `host "${this.name}" did not start the command (${err.message}); is it going down?`));
        }
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        let code = 1;
        const onAbort = () => stream.close();
        options.signal?.addEventListener('abort', onAbort, { once: true });
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
    });
  }

  /**
   * A stream to a Unix socket on the host (OpenSSH's direct-streamlocal): how
   * the control plane reaches the host's agent, authenticated by this SSH session.
   */
  async openSocket(path: string): Promise<Duplex> {
    const client = await this.connect();
    return new Promise((resolve, reject) =>
      client.openssh_forwardOutStreamLocal(path, (err, stream) =>
        err
          ? reject(new BothubError('UNAVAILABLE', `host "${this.name}": bothub's agent does not answer at ${path} (${err.message}); run \`bothub host check ${this.name}\``))
          : resolve(stream),
      ),
    );
  }

  /** A TCP connection made from the host (direct-tcpip): reaches a sandbox's address on that host's bridge. */
  async openTcp(address: string, port: number): Promise<Duplex> {
    const client = await this.connect();
    return new Promise((resolve, reject) =>
      client.forwardOut('127.0.0.1', 0, address, port, (err, stream) =>
        err ? reject(new BothubError('UNAVAILABLE', `host "${this.name}" could not connect to ${address}:${port} (${err.message})`)) : resolve(stream),
      ),
    );
  }

  async close(): Promise<void> {
    const c = await this.client?.catch(() => undefined);
    c?.end();
    this.client = undefined;
  }
}
