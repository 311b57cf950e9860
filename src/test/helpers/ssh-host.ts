import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TEST_IMAGES_DIR } from './daemon.js';
import { claimNumber } from './claims.js';

/**
 * A fleet host for tests: a network namespace of its own, reached over a veth
 * pair, running Debian's real sshd (root login by key only). It shares this
 * machine's files, so it has the same runc and CRIU.
 */
export interface TestSshHost {
  address: string;
  /** The network namespace it lives in. */
  netns: string;
  /** Its bothub agent's data directory (images shared with the test daemons'). */
  dataDir: string;
  /** The agent's PID, from its pid file; undefined while none runs. */
  agentPid(): number | undefined;
  /** The client key bothub connects with. */
  keyFile: string;
  /** Who that key logs in as: root, or the first of `users`. */
  loginUser: string;
  /** Lets another key in too (a rented machine takes the key given with the order). */
  authorize(publicKey: string): void;
  /** A user's authorized keys file there ('' when there is none). */
  authorizedKeys(user: string): string;
  /** The host key's fingerprint as OpenSSH prints it (SHA256:...). */
  hostKey(): string;
  /** Cuts every SSH connection (the per-connection sshd processes), as a network drop would; sshd and the agent stay. */
  dropConnections(): void;
  /** A new host key, as if the machine had been reinstalled (sshd restarted). */
  replaceHostKey(): Promise<void>;
  stopSshd(): Promise<void>;
  startSshd(): Promise<void>;
  cleanup(): Promise<void>;
}

let counter = 0;

/**
 * The PID of the agent running on this data directory, from its pid file,
 * if that process is the agent: by the time a killed agent's file is read
 * its PID may be another process's (PIDs wrap at 32768 here, and files run
 * side by side), and a zombie nobody reaped yet has no command line.
 */
function runningAgent(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'agent.pid'), 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return cmdline.includes(` agent --data-dir ${dataDir} `) ? pid : undefined;
  } catch {
    return undefined; // no pid file, or that process is gone
  }
}

/**
 * What a failed test can leave on a host: its agent, its sandboxes'
 * containers, overlay and loop mounts. They keep the directory busy (and
 * the agent would keep the test run alive), so they go first, by what this
 * host owns: the agent's pid file, its runc root, mounts under its directory.
 */
function removeLeftovers(dir: string, dataDir: string): void {
  const quiet = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' });
    } catch {
      return '';
    }
  };
  const agent = runningAgent(dataDir);
  if (agent) process.kill(agent, 'SIGKILL');
  const runcRoot = join(dataDir, 'runc');
  for (const id of quiet('runc', ['--root', runcRoot, 'list', '-q']).split('\n').filter(Boolean)) {
    quiet('runc', ['--root', runcRoot, 'kill', id, 'KILL']);
    quiet('runc', ['--root', runcRoot, 'delete', '--force', id]);
  }
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`) || m.startsWith(`${dataDir}/`));
  for (const m of mounts.sort().reverse()) quiet('umount', ['--lazy', m]);
  for (const line of quiet('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']).split('\n')) {
    const [device, file] = line.trim().split(/\s+/);
    if (device && file && (file.startsWith(`${dir}/`) || file.startsWith(`${dataDir}/`))) quiet('losetup', ['--detach', device]);
  }
}

/** sshd's SetEnv line for these variables (none: no line). */
function setEnv(vars: Record<string, string>): string[] {
  const pairs = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  return pairs.length ? [`SetEnv ${pairs.join(' ')}`] : [];
}

/** A login that is not root, as cloud images have (`ubuntu`), with passwordless sudo or without. */
export interface LoginUser {
  name: string;
  sudo: boolean;
}

/**
 * Users of this host alone: sshd runs in a mount namespace of its own where
 * /etc/passwd, group, shadow, sudoers.d and /etc/ssh are this host's copies,
 * so that the machine's own accounts are never touched. Whatever logs in
 * there (the agent, sandboxes) sees its mounts; they go with its last process.
 */
function privateAccounts(dir: string, users: LoginUser[], sshdArgs: string[]): string[] {
  chmodSync(dir, 0o711); // sshd reads a user's keys as that user, who must reach them (mkdtemp makes it 0700)
  const etc = join(dir, 'etc');
  mkdirSync(join(etc, 'sudoers.d'), { recursive: true });
  const add = (file: string, lines: string[]) => writeFileSync(join(etc, file), `${readFileSync(`/etc/${file}`, 'utf8')}${lines.join('\n')}\n`);
  add(
    'passwd',
    users.map((u, i) => `${u.name}:x:${64100 + i}:${64100 + i}::${join(dir, 'home', u.name)}:/bin/sh`),
  );
  add(
    'group',
    users.map((u, i) => `${u.name}:x:${64100 + i}:`),
  );
  add(
    'shadow',
    users.map((u) => `${u.name}:*:20000:0:99999:7:::`), // `*`: no password, not locked (sshd refuses locked accounts even a key)
  );
  for (const u of users) mkdirSync(join(dir, 'home', u.name), { recursive: true });
  for (const u of users.filter((x) => x.sudo)) writeFileSync(join(etc, 'sudoers.d', u.name), `${u.name} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
  const binds = [
    ['passwd', '/etc/passwd'],
    ['group', '/etc/group'],
    ['shadow', '/etc/shadow'],
    ['sudoers.d', '/etc/sudoers.d'],
    ['ssh', '/etc/ssh'],
  ];
  const script = `${binds.map((_, i) => `mount --bind "$${i + 1}" ${binds[i]![1]}`).join(' && ')} && shift ${binds.length} && exec "$@"`;
  return ['unshare', '--mount', '--', '/bin/sh', '-c', script, 'sh', ...binds.map(([from]) => join(etc, from!)), ...sshdArgs];
}

/**
 * `dataDir`: where its agent's data directory is to be (default: in its own temporary directory).
 * `env`: set for every SSH session there (sshd's SetEnv), so the agent started over SSH runs with it (a fake GPU driver...).
 * `users`: logins other than root; the client key is theirs (the first one's for `authorize`), and root has none until it is given one.
 */
export async function startSshHost(opts: { dataDir?: string; env?: Record<string, string>; users?: LoginUser[]; permitRootLogin?: string } = {}): Promise<TestSshHost> {
  // 10.198.N.0/30 between this machine and the host: N is claimed, as files running side by side each start hosts.
  const claim = claimNumber('fleet-host', 250);
  const n = claim.n + 1;
  const tag = `${process.pid.toString(36).slice(-3)}${++counter}`;
  const ns = `bhh-${tag}`;
  const veth = `bhh${tag}`;
  const address = `10.198.${n}.2`;
  const dir = mkdtempSync(join(tmpdir(), 'bothub-sshhost-'));
  const dataDir = opts.dataDir ?? join(dir, 'agent-data');
  mkdirSync(dataDir, { mode: 0o700, recursive: true });
  // The default image is built once per machine; an agent here uses the same one.
  symlinkSync(TEST_IMAGES_DIR, join(dataDir, 'images'));
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  run('ip', ['netns', 'add', ns]);
  run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  run('ip', ['addr', 'add', `10.198.${n}.1/30`, 'dev', veth]);
  run('ip', ['link', 'set', veth, 'up']);
  run('ip', ['-n', ns, 'addr', 'add', `${address}/30`, 'dev', 'eth0']);
  run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);

  const keyFile = join(dir, 'client_key');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  // One authorized keys file per user (`%u`), as on a real machine: root's is not the login user's.
  const loginUser = opts.users?.[0]?.name ?? 'root';
  mkdirSync(join(dir, 'keys'));
  for (const user of opts.users?.map((u) => u.name) ?? ['root']) writeFileSync(join(dir, 'keys', user), readFileSync(`${keyFile}.pub`));
  const makeHostKey = () => {
    rmSync(join(dir, 'host_key'), { force: true });
    rmSync(join(dir, 'host_key.pub'), { force: true });
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  };
  makeHostKey();
  // In etc/ssh, which is /etc/ssh for a host with its own users: `sshd -T` there reads it.
  const sshdConfig = join(dir, 'etc', 'ssh', 'sshd_config');
  const rootHome = join(dir, 'home', 'root');
  mkdirSync(rootHome, { recursive: true, mode: 0o700 });
  mkdirSync(dirname(sshdConfig), { recursive: true });
  writeFileSync(
    sshdConfig,
    [
      `ListenAddress ${address}`,
      'Port 22',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'keys', '%u')}`,
      `PermitRootLogin ${opts.permitRootLogin ?? 'prohibit-password'}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'Subsystem sftp internal-sftp', // SshHost's file operations
      `PidFile ${join(dir, 'sshd.pid')}`,
      ...setEnv(opts.env ?? {}),
      // Root's home here is an empty directory, as on a fresh machine. Debian's bash runs ~/.bashrc for every SSH
      // command, and this machine's root has one that starts pyenv: a second or more of CPU for each command bothub runs.
      'Match User root',
      ...setEnv({ ...opts.env, HOME: rootHome }).map((line) => `  ${line}`),
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory

  let sshd: ChildProcess | undefined;
  const startSshd = async () => {
    // Only the network namespace changes (`ip netns exec` would also remount /sys, hiding the cgroup mounts runc needs).
    const sshdArgs = ['/usr/sbin/sshd', '-D', '-e', '-f', sshdConfig];
    sshd = spawn('nsenter', [`--net=/run/netns/${ns}`, ...(opts.users ? privateAccounts(dir, opts.users, sshdArgs) : sshdArgs)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const daemon = sshd;
    let log = '';
    // Listening once it says so on stderr; an exit, or 10 s of silence, is a failure that shows its log.
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => reject(new Error(`sshd did not start (${why}): ${log}`));
      const timeout = AbortSignal.timeout(10_000);
      timeout.addEventListener('abort', () => fail('no "Server listening" within 10 s'));
      daemon.once('exit', (code) => fail(`exited with ${code}`));
      daemon.stderr!.on('data', (b: Buffer) => {
        log += b.toString();
        if (/Server listening/.test(log)) resolve();
      });
    });
  };
  /** Stops sshd and the per-connection sshd processes it forked (all of them in this namespace, all ours). */
  const stopSshd = async () => {
    if (sshd && sshd.exitCode === null) {
      const gone = new Promise((r) => sshd!.once('exit', r));
      sshd.kill('SIGTERM');
      await gone;
    }
    for (const pid of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  await startSshd();

  return {
    address,
    netns: ns,
    dataDir,
    agentPid: () => runningAgent(dataDir),
    dropConnections() {
      if (!sshd?.pid) return;
      let children: string[] = [];
      try {
        children = execFileSync('pgrep', ['-P', String(sshd.pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
          .split('\n')
          .filter(Boolean);
      } catch {
        // no connection open
      }
      for (const pid of children) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
    keyFile,
    loginUser,
    authorize: (publicKey) => appendFileSync(join(dir, 'keys', loginUser), `${publicKey.trim()}\n`),
    authorizedKeys: (user) => (existsSync(join(dir, 'keys', user)) ? readFileSync(join(dir, 'keys', user), 'utf8') : ''),
    hostKey: () => execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'host_key.pub')], { encoding: 'utf8' }).split(' ')[1]!,
    async replaceHostKey() {
      await stopSshd();
      makeHostKey();
      await startSshd();
    },
    stopSshd,
    startSshd,
    async cleanup() {
      await stopSshd();
      removeLeftovers(dir, dataDir);
      execFileSync('ip', ['netns', 'del', ns]); // takes eth0, and with it the host end of the pair
      rmSync(dir, { recursive: true, force: true });
      claim.release();
    },
  };
}
