import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, posix, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { BothubError } from '../../core/index.js';
import { action } from '../runner.js';

interface Remote {
  name: string;
  path: string;
}

/** `NAME:/path` names a path inside a sandbox; anything else is local. */
function parseSide(arg: string): Remote | undefined {
  const m = /^([a-z0-9][a-z0-9-]{0,62}):(\/.*)$/.exec(arg);
  return m ? { name: m[1]!, path: m[2]! } : undefined;
}

/** A GNU tar --transform that renames the archive's top entry `from` to `to`, whatever characters they hold. */
function renameTop(from: string, to: string): string[] {
  if (from === to) return [];
  const re = from.replace(/[\\^$.*[\]|]/g, (c) => `\\${c}`);
  const rep = to.replace(/[\\&|]/g, (c) => `\\${c}`);
  return [`--transform=s|^${re}\\(/\\|$\\)|${rep}\\1|`];
}

function tar(args: string[], stdin: 'pipe' | 'ignore') {
  const child = spawn('tar', args, { stdio: [stdin, stdin === 'pipe' ? 'inherit' : 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<void>((res, rej) =>
    child.on('close', (code) => (code === 0 ? res() : rej(new BothubError('RUNTIME_FAILED', `local tar failed: ${stderr.trim().split('\n')[0] ?? `exit ${code}`}`)))),
  );
  return { child, done };
}

export function register(program: Command): void {
  program
    .command('cp')
    .description('copy files or directories between here and a sandbox (NAME:/path), modes kept')
    .argument('<src>', 'local path, or NAME:/path')
    .argument('<dst>', 'local path, or NAME:/path')
    .action(
      action(async (ctx, src: string, dst: string) => {
        const [from, to] = [parseSide(src), parseSide(dst)];
        if (!!from === !!to) throw new BothubError('INVALID_INPUT', 'give exactly one side as NAME:/path (e.g. `bothub cp ./app box:/workspace`)');
        if (to) {
          // Upload: into an existing directory, or as the named path.
          const local = resolve(src);
          if (!existsSync(local)) throw new BothubError('NOT_FOUND', `no such file or directory here: ${src}`);
          const target = await ctx.api.call('statFile', { params: { name: to.name }, query: { path: to.path } }).catch(() => undefined);
          const into = target?.type === 'directory' || to.path.endsWith('/');
          const dir = into ? to.path : posix.dirname(to.path);
          const rename = into ? [] : renameTop(basename(local), posix.basename(to.path));
          const { child, done } = tar(['-C', dirname(local), '-cf', '-', ...rename, '--', basename(local)], 'ignore');
          const upload = ctx.api.fetch('putArchive', { params: { name: to.name }, query: { path: dir }, rawBody: Readable.toWeb(child.stdout!) as unknown as BodyInit });
          await Promise.all([upload, done]);
          return;
        }
        // Download: into an existing local directory, or as the named path.
        const remote = from!;
        const local = resolve(dst);
        const into = (existsSync(local) && statSync(local).isDirectory()) || dst.endsWith('/');
        const dir = into ? local : dirname(local);
        if (!existsSync(dir)) throw new BothubError('NOT_FOUND', `no such directory here: ${dir}`);
        const res = await ctx.api.fetch('getArchive', { params: { name: remote.name }, query: { path: remote.path } });
        const name = remote.path === '/' ? '.' : posix.basename(remote.path);
        const { child, done } = tar(['-C', dir, '-xpf', '-', ...(into ? [] : renameTop(name, basename(local)))], 'pipe');
        Readable.fromWeb(res.body as never).pipe(child.stdin!);
        await done;
      }),
    );
}
