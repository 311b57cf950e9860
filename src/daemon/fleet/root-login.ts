import { posix } from 'node:path';
import { BothubError } from '../../core/index.js';
import { SshHost, type SshTarget } from '../../hostexec/index.js';

/**
 * Cloud images (Hyperbolic's machines, most Ubuntu VMs) let you in as a user
 * such as `ubuntu` with passwordless sudo, not as root. Sandboxes need root
 * for everything (runc, mounts, CRIU), and running every command and file
 * operation through sudo would need a second file protocol beside SFTP.
 * Instead, on first contact, bothub's key is added to root's authorized keys
 * through sudo, once, and every later connection logs in as root. Where
 * root's keys go and whether root may log in are asked of the host's sshd
 * (`sshd -T`), not guessed.
 */
export async function loginAsRoot(conn: SshHost, target: SshTarget, publicKeyLine: string, signal?: AbortSignal): Promise<SshHost> {
  const name = conn.name;
  const user = target.username;
  const sudo = (args: string[], input?: string) => conn.run('sudo', ['-n', '--', ...args], { allowFailure: true, signal, ...(input !== undefined ? { input } : {}) });

  const can = await sudo(['true']);
  if (can.code !== 0)
    throw new BothubError(
      'INVALID_STATE',
      `host "${name}": ${user} is not root and cannot run sudo without a password (${firstLine(can.stderr) || `exit ${can.code}`}); give root@… as \`ssh\`, or let ${user} run sudo without one there (\`${user} ALL=(ALL) NOPASSWD:ALL\` in /etc/sudoers.d/)`,
    );

  const home = (await conn.run('getent', ['passwd', 'root'], { allowFailure: true, signal })).stdout.split(':')[5]?.trim() || '/root';
  const sshd = await sudo(['sshd', '-T', '-C', 'user=root,host=bothub,addr=127.0.0.1']);
  const setting = (key: string) => new RegExp(`^${key} (.*)$`, 'm').exec(sshd.stdout)?.[1]?.trim();
  const permit = setting('permitrootlogin');
  if (permit === 'no' || permit === 'forced-commands-only')
    throw new BothubError(
      'INVALID_STATE',
      `host "${name}": its sshd refuses root logins (PermitRootLogin ${permit}), and bothub works there as root; set \`PermitRootLogin prohibit-password\` in /etc/ssh/sshd_config there and reload sshd`,
    );
  const keysFile = authorizedKeysPath(setting('authorizedkeysfile'), home);

  const present = await sudo(['cat', keysFile]);
  const blob = publicKeyLine.split(' ').slice(0, 2).join(' ');
  if (present.code !== 0 || !present.stdout.includes(blob)) {
    const dir = posix.dirname(keysFile);
    const made = await sudo(['mkdir', '-p', '-m', '700', dir]);
    const added = made.code === 0 ? await sudo(['tee', '-a', keysFile], `${present.stdout && !present.stdout.endsWith('\n') ? '\n' : ''}${publicKeyLine}\n`) : made;
    if (added.code !== 0) throw new BothubError('INVALID_STATE', `host "${name}": could not add bothub's key to ${keysFile} through sudo (${firstLine(added.stderr)}); is the disk full or read-only?`);
    if (present.code !== 0) await sudo(['chmod', '600', keysFile]);
  }

  // The same machine: its host key, seen a moment ago, is pinned for the root login too.
  const root = new SshHost(name, { ...target, username: 'root' }, conn.hostKey);
  try {
    const uid = await root.run('id', ['-u'], { signal });
    if (uid.stdout.trim() !== '0') throw new Error(`the root login runs as uid ${uid.stdout.trim()}`);
    return root;
  } catch (e) {
    await root.close();
    throw new BothubError(
      'INVALID_STATE',
      `host "${name}": root does not let bothub in with its key after the key was added to ${keysFile} through sudo (${(e as Error).message}); check that its sshd lets root in by key (\`PermitRootLogin prohibit-password\`)`,
    );
  }
}

/** sshd's AuthorizedKeysFile for root: its first entry, tokens expanded, relative to root's home. */
export function authorizedKeysPath(setting: string | undefined, home: string): string {
  const first = (setting ?? '').split(/\s+/).find((p) => p && p !== 'none') ?? '.ssh/authorized_keys';
  const expanded = first.replace(/%([%hUu])/g, (_, t: string) => (t === '%' ? '%' : t === 'h' ? home : t === 'U' ? '0' : 'root'));
  return posix.isAbsolute(expanded) ? expanded : posix.join(home, expanded);
}

const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';
