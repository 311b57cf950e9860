import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import { CommandError, type Host, type RunOptions } from '../../hostexec/index.js';
import { isInsecureRegistry } from './reference.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** How to reach one registry: its host, the caller's credentials for it, if any. */
export interface RegistryAccess {
  host: string;
  credentials?: RegistryCredentials;
}

/**
 * skopeo, with credentials handed over in a private auth file (mode 0600,
 * deleted afterwards) and never on a command line, where any process list
 * would show them. An empty auth file is given when there are none, so the
 * daemon's own ~/.docker or containers auth is never used on a user's behalf.
 */
export class Skopeo {
  constructor(
    private readonly host: Host,
    private readonly tmpDir: string,
  ) {}

  async run(args: string[], registries: RegistryAccess[], options: RunOptions & { direction?: 'src' | 'dest' | 'both' } = {}): Promise<string> {
    const dir = join(this.tmpDir, `auth-${randomBytes(8).toString('hex')}`);
    await this.host.mkdir(dir, { recursive: true, mode: 0o700 });
    const authfile = join(dir, 'auth.json');
    try {
      const auths: Record<string, { auth: string }> = {};
      for (const r of registries)
        if (r.credentials) auths[r.host] = { auth: Buffer.from(`${r.credentials.username}:${r.credentials.password}`).toString('base64') };
      await this.host.writeFile(authfile, JSON.stringify({ auths }), { mode: 0o600 });
      const [sub, ...rest] = args;
      const flags = ['--authfile', authfile];
      const direction = options.direction;
      for (const r of registries) {
        if (!isInsecureRegistry(r.host)) continue;
        if (direction === 'src' || direction === 'both') flags.push('--src-tls-verify=false');
        if (direction === 'dest' || direction === 'both') flags.push('--dest-tls-verify=false');
        if (!direction) flags.push('--tls-verify=false');
      }
      const res = await this.host.run('skopeo', [sub!, ...new Set(flags), ...rest], options);
      return res.stdout;
    } catch (e) {
      throw registryError(e);
    } finally {
      await this.host.rm(dir, { recursive: true, force: true });
    }
  }
}

/** skopeo's failures as the error codes users act on. */
function registryError(e: unknown): unknown {
  if (!(e instanceof CommandError)) return e;
  const msg = e.result.stderr.trim().split('\n').pop() ?? '';
  const short = msg
    .replace(/\bauth=\S+/g, 'auth=…').replace(/^time=".*?" level=\w+ msg="?/, '').replace(/"$/, '').slice(0, 400);
  if (/manifest unknown|name unknown|not found|404/i.test(msg)) return new BothubError('NOT_FOUND', `the registry has no such image: ${short}`);
  if (/unauthorized|authentication required|denied|401|403/i.test(msg))
    return new BothubError('UNAUTHORIZED', `the registry refused access: ${short}; log in first (\`PUT /api/v1/registries/HOST\`)`);
  if (/digest|does not match/i.test(msg)) return new BothubError('INVALID_INPUT', `the registry's content does not match its digest: ${short}`);
  return new BothubError('RUNTIME_FAILED', `skopeo failed: ${short}`);
}
