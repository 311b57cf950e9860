import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { FileEntryT, FileStatT } from '../../api/index.js';
import { BothubError, type Actor } from '../../core/index.js';
import type { ExecSession, SandboxDefinition, SandboxRuntime } from '../../runtime/index.js';
import type { ThermalService } from './thermal-service.js';

/** Most bytes one read or write call moves; bigger transfers go through `cp` (tar). */
export const FILE_CALL_LIMIT = 64 * 1024 * 1024;

/** The call that copies a path out whole, as a tar. */
const asTar = (name: string, path: string) => `\`GET /api/v1/sandboxes/${name}/archive?path=${path}\``;

const isDirectory = (name: string, path: string) =>
  new BothubError('INVALID_INPUT', `${path} in sandbox "${name}" is a directory; list it, or copy it as a tar (${asTar(name, path)})`);

const TYPES: Record<string, FileStatT['type']> = { f: 'file', d: 'directory', l: 'symlink' };

/**
 * Files inside a sandbox. Every access runs inside the sandbox itself (a
 * command forked by its init, with argument arrays), so paths resolve in the
 * sandbox's own root and mount namespace: `..` and symlinks pointing "out"
 * land on the sandbox's own files, never the host's. Paths with `..` are
 * refused anyway, so a caller learns early that they mean nothing here.
 */
export class FileService {
  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly thermal: ThermalService,
  ) {}

  static checkPath(path: string): string {
    if (!path.startsWith('/') || path.includes('\0')) throw new BothubError('INVALID_INPUT', `"${path}" is not an absolute path; paths inside a sandbox start with /`);
    if (path.split('/').includes('..')) throw new BothubError('INVALID_INPUT', `"${path}" leaves the directory it names (..); give the absolute path inside the sandbox`);
    return posix.normalize(path);
  }

  private async sandbox(name: string, actor: Actor): Promise<SandboxDefinition> {
    return (await this.thermal.ready(name, 'exec', actor)).def;
  }

  /** Runs one helper inside; stdout kept unless `out` takes it. */
  private async run(def: SandboxDefinition, argv: string[], io: { stdin?: Readable | Buffer; out?: Writable } = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
    const session: ExecSession = await this.runtime.exec(def, { argv, cwd: '/', env: {} });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    session.on('stdout', (b) => (io.out ? io.out.write(b) : out.push(b)));
    session.on('stderr', (b) => err.push(b));
    if (Buffer.isBuffer(io.stdin)) session.write(io.stdin);
    else if (io.stdin) for await (const chunk of io.stdin) session.write(chunk as Buffer);
    session.closeStdin();
    const exit = await session.done;
    return { code: exit.exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() };
  }

  /** The sandbox's own error text, turned into one of ours. */
  private failure(name: string, path: string, stderr: string, code: number): BothubError {
    if (code === 127 || (/not found/.test(stderr) && /exec|command/.test(stderr)))
      return new BothubError('INVALID_STATE', `sandbox "${name}" lacks a tool bothub's file access needs (${stderr.trim()}); use an image with coreutils, findutils and tar`);
    if (/does not look like a tar archive|Unexpected EOF in archive|Damaged tar archive/.test(stderr))
      return new BothubError('INVALID_INPUT', `the body is not a complete tar archive (${stderr.trim().split('\n')[0]}); send one made with \`tar -cf - …\``);
    if (/No such file or directory/.test(stderr)) return new BothubError('NOT_FOUND', `no such file or directory in sandbox "${name}": ${path}`);
    if (/Is a directory/.test(stderr))
      return isDirectory(name, path);
    // mkdir -p on a file: an archive is unpacked into a directory.
    if (/cannot create directory .*File exists/.test(stderr))
      return new BothubError('INVALID_INPUT', `${path} in sandbox "${name}" is not a directory; unpack into a directory (made if missing)`);
    if (/Not a directory/.test(stderr)) return new BothubError('INVALID_INPUT', `a parent of ${path} in sandbox "${name}" is not a directory`);
    // A file the runtime mounts over (/etc/hostname, /etc/hosts, /etc/resolv.conf) cannot be replaced by a rename.
    if (/Device or resource busy/.test(stderr))
      return new BothubError('IN_USE', `${path} in sandbox "${name}" is a mount point the sandbox's runtime keeps; it cannot be replaced (write it from inside with a command, \`POST /api/v1/sandboxes/${name}/exec\`, such as sh -c 'cat > ${path}')`);
    if (/Permission denied|Read-only file system/.test(stderr)) return new BothubError('FORBIDDEN', `${path} in sandbox "${name}": ${stderr.trim().split('\n')[0]}`);
    return new BothubError('RUNTIME_FAILED', `file access in sandbox "${name}" failed: ${stderr.trim().split('\n')[0] || `exit ${code}`}`);
  }

  async stat(name: string, rawPath: string, actor: Actor, follow = false): Promise<FileStatT> {
    const path = FileService.checkPath(rawPath);
    const def = await this.sandbox(name, actor);
    const r = await this.run(def, ['find', ...(follow ? ['-L'] : []), path, '-maxdepth', '0', '-printf', '%y\\t%s\\t%m\\t%T@\\t%l']);
    if (r.code !== 0) throw this.failure(name, path, r.stderr, r.code);
    const [type, size, mode, mtime, link] = r.stdout.toString().split('\t');
    return {
      path,
      type: TYPES[type!] ?? 'other',
      size: Number(size),
      mode: mode!.padStart(4, '0'),
      modifiedAt: new Date(Number(mtime) * 1000).toISOString(),
      ...(type === 'l' ? { linkTarget: link } : {}),
    };
  }

  async list(name: string, rawPath: string, actor: Actor): Promise<FileEntryT[]> {
    const path = FileService.checkPath(rawPath);
    const st = await this.stat(name, path, actor, true);
    if (st.type !== 'directory') throw new BothubError('INVALID_INPUT', `${path} in sandbox "${name}" is a ${st.type}, not a directory; stat or read it instead`);
    const def = await this.sandbox(name, actor);
    const r = await this.run(def, ['find', '-L', path, '-mindepth', '1', '-maxdepth', '1', '-printf', '%y\\t%s\\t%m\\t%T@\\t%f\\0']);
    if (r.code !== 0 && !r.stdout.length) throw this.failure(name, path, r.stderr, r.code);
    return r.stdout
      .toString()
      .split('\0')
      .filter(Boolean)
      .map((line) => {
        const [type, size, mode, mtime, ...rest] = line.split('\t');
        return { name: rest.join('\t'), type: TYPES[type!] ?? 'other', size: Number(size), mode: mode!.padStart(4, '0'), modifiedAt: new Date(Number(mtime) * 1000).toISOString() };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async read(name: string, rawPath: string, offset: number, length: number | undefined, actor: Actor): Promise<{ data: Buffer; size: number }> {
    const path = FileService.checkPath(rawPath);
    const st = await this.stat(name, path, actor, true);
    if (st.type === 'directory') throw isDirectory(name, path);
    const want = Math.max(0, Math.min(length ?? st.size - offset, st.size - offset));
    if (want > FILE_CALL_LIMIT)
      throw new BothubError(
        'LIMIT_EXCEEDED',
        `${path} is ${st.size} bytes; read at most ${FILE_CALL_LIMIT} a call (use offset and length), or copy it as a tar (${asTar(name, path)})`,
      );
    if (want === 0) return { data: Buffer.alloc(0), size: st.size };
    const def = await this.sandbox(name, actor);
    const r = await this.run(def, ['dd', `if=${path}`, 'iflag=skip_bytes,count_bytes', `skip=${offset}`, `count=${want}`, 'bs=1M', 'status=none']);
    if (r.code !== 0) throw this.failure(name, path, r.stderr, r.code);
    return { data: r.stdout, size: st.size };
  }

  async write(name: string, rawPath: string, mode: string, body: Readable, actor: Actor): Promise<FileStatT> {
    const path = FileService.checkPath(rawPath);
    if (path === '/') throw new BothubError('INVALID_INPUT', 'cannot write to /; name a file');
    const def = await this.sandbox(name, actor);
    let seen = 0;
    const limited = (async function* () {
      for await (const chunk of body) {
        seen += (chunk as Buffer).length;
        if (seen > FILE_CALL_LIMIT) throw new BothubError('LIMIT_EXCEEDED', `the body passes ${FILE_CALL_LIMIT} bytes; send big files as a tar (\`PUT /api/v1/sandboxes/${name}/archive\`)`);
        yield chunk as Buffer;
      }
    })();
    // Written to a temporary name, then renamed: a reader never sees half a file. The name is this write's own:
    // two writes of one file at once (a retried upload) each rename a whole file, and the last one stays.
    const script =
      'd="${0%/*}"; t="$0.bothub-tmp-$2"; mkdir -p -- "${d:-/}" && cat > "$t" && chmod "$1" "$t" && mv -fT -- "$t" "$0" || { rm -f -- "$t"; exit 1; }';
    const r = await this.run(def, ['sh', '-c', script, path, mode, randomBytes(6).toString('hex')], { stdin: limited as unknown as Readable });
    if (r.code !== 0) throw this.failure(name, path, r.stderr, r.code);
    return this.stat(name, path, actor);
  }

  /** Streams a tar of `path` (its last component at the archive's root) into `out`. */
  async archive(name: string, rawPath: string, out: Writable, actor: Actor): Promise<void> {
    const path = FileService.checkPath(rawPath);
    await this.stat(name, path, actor); // a clear 404 before any byte is sent
    const def = await this.sandbox(name, actor);
    const parent = posix.dirname(path);
    const base = path === '/' ? '.' : posix.basename(path);
    const r = await this.run(def, ['tar', '-C', parent, '-cf', '-', '--', base], { out });
    if (r.code !== 0) throw this.failure(name, path, r.stderr, r.code);
  }

  /** Unpacks a tar into the directory `path` (made if missing), modes and owners kept. */
  async unpack(name: string, rawPath: string, body: Readable, actor: Actor): Promise<void> {
    const path = FileService.checkPath(rawPath);
    const def = await this.sandbox(name, actor);
    const r = await this.run(def, ['sh', '-c', 'mkdir -p -- "$0" && exec tar -C "$0" -xpf - --same-owner', path], { stdin: body });
    if (r.code !== 0) throw this.failure(name, path, r.stderr, r.code);
  }
}
