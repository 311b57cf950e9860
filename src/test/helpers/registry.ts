import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { until } from './sandbox.js';

/** A real registry (Debian's docker-registry) on a loopback port, optionally behind htpasswd basic auth. */
export interface TestRegistry {
  host: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function startRegistry(auth?: { username: string; password: string }): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'bothub-registry-'));
  const port = await freePort();
  const lines = ['version: 0.1', 'storage:', `  filesystem: { rootdirectory: ${dir}/data }`, 'http:', `  addr: 127.0.0.1:${port}`];
  if (auth) {
    // htpasswd reads the password from stdin (-i): it never shows in a process list, even here.
    const line = execFileSync('htpasswd', ['-B', '-i', '-n', auth.username], { input: auth.password }).toString().trim();
    writeFileSync(join(dir, 'htpasswd'), `${line}\n`);
    lines.push('auth:', `  htpasswd: { realm: bothub-test, path: ${dir}/htpasswd }`);
  }
  writeFileSync(join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  await until(
    `docker-registry on ${host}`,
    async () => {
      const res = await fetch(`http://${host}/v2/`).catch(() => undefined);
      return res && (res.status === 200 || res.status === 401) ? true : undefined;
    },
    20_000,
  );
  return {
    host,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A root filesystem of a few MB: the host's sh, coreutils it needs, and their libraries. */
export function tinyRootfs(root: string): void {
  const tools = ['/bin/sh', '/bin/cat', '/bin/ls', '/usr/bin/id', '/usr/bin/env', '/bin/sleep', '/bin/mkdir', '/bin/rm', '/bin/echo', '/bin/pwd', '/usr/bin/test'];
  for (const d of ['usr/bin', 'usr/lib', 'usr/lib64', 'etc', 'tmp', 'proc', 'dev', 'sys', 'root']) mkdirSync(join(root, d), { recursive: true });
  for (const [link, to] of [['bin', 'usr/bin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64'], ['sbin', 'usr/bin']]) execFileSync('ln', ['-sfn', to!, join(root, link!)]);
  const files = new Set<string>();
  for (const t of tools) {
    files.add(t);
    for (const m of execFileSync('ldd', [realpathSync(t)]).toString().matchAll(/(\/[^\s]+\.so[^\s]*)/g)) files.add(m[1]!);
  }
  for (const f of files) {
    const rel = f.replace(/^\/(usr\/)?/, 'usr/');
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    cpSync(realpathSync(f), join(root, rel));
  }
  execFileSync('chmod', ['1777', join(root, 'tmp')]);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
}

/** Builds OCI layouts by hand: each layer tarred and gzipped from a directory, blobs named by digest. */
export class LayoutBuilder {
  readonly dir: string;
  private refs: (Blob & { annotations: Record<string, string> })[] = [];

  constructor(parent: string) {
    this.dir = join(parent, `layout-${Math.random().toString(16).slice(2, 8)}`);
    mkdirSync(join(this.dir, 'blobs/sha256'), { recursive: true });
    writeFileSync(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  private put(mediaType: string, bytes: Buffer): Blob {
    const digest = sha(bytes);
    writeFileSync(join(this.dir, 'blobs/sha256', digest.slice(7)), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  layer(src: string): Blob & { diffId: string } {
    const tar = execFileSync('tar', ['-C', src, '--numeric-owner', '--sort=name', '-cf', '-', '.'], { maxBuffer: 1 << 30 });
    const gz = execFileSync('gzip', ['-n', '-c'], { input: tar, maxBuffer: 1 << 30 });
    return { ...this.put('application/vnd.oci.image.layer.v1.tar+gzip', gz), diffId: sha(tar) };
  }

  manifest(layers: (Blob & { diffId: string })[], config: Record<string, unknown>, architecture = 'amd64'): Blob {
    const cfg = this.put(
      'application/vnd.oci.image.config.v1+json',
      Buffer.from(JSON.stringify({ architecture, os: 'linux', config, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } })),
    );
    const layerDescs = layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size }));
    return this.put('application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cfg, layers: layerDescs })));
  }

  index(entries: { manifest: Blob; architecture: string }[]): Blob {
    const manifests = entries.map((e) => ({ ...e.manifest, platform: { architecture: e.architecture, os: 'linux' } }));
    return this.put('application/vnd.oci.image.index.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })));
  }

  tag(name: string, blob: Blob): void {
    this.refs.push({ ...blob, annotations: { 'org.opencontainers.image.ref.name': name } });
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: this.refs }));
  }

  /** Puts a tagged image (or index, with --all) into a registry with skopeo. */
  push(tag: string, dest: string, creds?: { username: string; password: string }): void {
    const args = ['copy', '--all', '--dest-tls-verify=false'];
    let authDir: string | undefined;
    if (creds) {
      authDir = mkdtempSync(join(tmpdir(), 'bothub-auth-'));
      const host = dest.split('/')[0]!;
      writeFileSync(join(authDir, 'auth.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } } }), { mode: 0o600 });
      args.push('--authfile', join(authDir, 'auth.json'));
    }
    try {
      execFileSync('skopeo', [...args, `oci:${this.dir}:${tag}`, `docker://${dest}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    } finally {
      if (authDir) rmSync(authDir, { recursive: true, force: true });
    }
  }
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
