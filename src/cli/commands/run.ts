import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import ignore from 'ignore';
import { BothubError, parseEnvPairs } from '../../core/index.js';
import { printJson } from '../output/format.js';
import { action, collect } from '../runner.js';
import { ensureDefaultImage } from './image/build.js';
import { DISK_HELP, diskOption } from './create.js';

const WORKSPACE = '/workspace';
/** Where the sandbox remembers which command `run` started, so a re-run can replace it. */
const RUN_STATE = '/.bothub-run.json';

/** Installs what the project declares, and the installer itself when the image lacks it. */
const INSTALL = `set -e
cd ${WORKSPACE}
need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $2 >/dev/null; }; }
if [ -f requirements.txt ]; then need pip3 python3-pip; pip3 install -q --break-system-packages -r requirements.txt; fi
if [ -f package.json ]; then need npm "nodejs npm"; npm install --no-audit --no-fund --loglevel=error; fi`;

/** The files to send: everything under `root` but .git and what .gitignore files exclude. */
export function projectFiles(root: string): string[] {
  const out: string[] = [];
  // Each .gitignore speaks for its own directory and below, as git reads them.
  const walk = (dir: string, rules: { base: string; ig: ReturnType<typeof ignore> }[]) => {
    const here = join(dir, '.gitignore');
    const scoped = existsSync(here) ? [...rules, { base: dir, ig: ignore().add(readFileSync(here, 'utf8')) }] : rules;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === '.git') continue;
      const full = join(dir, e.name);
      if (scoped.some((r) => r.ig.ignores(relative(r.base, full) + (e.isDirectory() ? '/' : '')))) continue;
      if (e.isDirectory()) walk(full, scoped);
      else out.push(relative(root, full));
    }
  };
  walk(root, []);
  return out;
}

const slug = (dir: string) =>
  basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63) || 'app';

export function register(program: Command): void {
  program
    .command('run')
    .description('send this directory to a sandbox, install its dependencies, start CMD in the background and publish its ports')
    .argument('<command...>', 'command and arguments (after --)')
    .option('--name <name>', 'sandbox name (default: this directory’s name); re-running updates it')
    .option('--image <image>', 'image for a new sandbox')
    .option('--disk <size>', `for a new sandbox: ${DISK_HELP}`)
    .option('-p, --port <port>', 'port to publish (repeatable)', collect, [])
    .option('-e, --env <KEY=VALUE>', 'environment variable for the command (repeatable)', collect, [])
    .action(
      action(async (ctx, command: string[], opts: { name?: string; image?: string; disk?: string; port: string[]; env: string[] }) => {
        const root = process.cwd();
        const name = opts.name ?? slug(root);
        const ports = opts.port.map((p) => {
          const n = Number(p);
          if (!Number.isInteger(n) || n < 1 || n > 65535) throw new BothubError('INVALID_INPUT', `invalid --port "${p}": give a port number (1-65535)`);
          return n;
        });
        const env = parseEnvPairs(opts.env);
        const diskMb = diskOption(opts.disk);
        const say = (text: string) => !ctx.json && process.stderr.write(`${text}\n`);

        const existing = await ctx.api.call('getSandbox', { params: { name } }).catch((e: BothubError) => {
          if (e.code === 'NOT_FOUND') return undefined;
          throw e;
        });
        if (!existing) {
          if (!opts.image) await ensureDefaultImage(ctx);
          say(`creating sandbox ${name}`);
          await ctx.api.call('createSandbox', { body: { name, image: opts.image, diskMb } });
        } else {
          // The previous run's command gives way to the new one.
          const state = await ctx.api
            .fetch('readFile', { params: { name }, query: { path: RUN_STATE } })
            .then(async (r) => JSON.parse(await r.text()) as { exec: string })
            .catch(() => undefined);
          const prev = state && (await ctx.api.call('getExec', { params: { name, id: state.exec } }).catch(() => undefined));
          if (prev?.status === 'running') {
            say(`stopping the previous command ${prev.id}`);
            await ctx.api.call('killExec', { params: { name, id: prev.id }, body: { signal: 'KILL' } });
          }
        }

        const files = projectFiles(root);
        say(`sending ${files.length} files to ${name}:${WORKSPACE}`);
        const tar = spawn('tar', ['-C', root, '-cf', '-', '--null', '-T', '-'], { stdio: ['pipe', 'pipe', 'inherit'] });
        tar.stdin.end(files.map((f) => `${f}\0`).join(''));
        const packed = new Promise<void>((res, rej) =>
          tar.on('close', (code) => (code === 0 ? res() : rej(new BothubError('RUNTIME_FAILED', `packing ${root} failed (tar exit ${code})`)))),
        );
        await Promise.all([ctx.api.fetch('putArchive', { params: { name }, query: { path: WORKSPACE }, rawBody: Readable.toWeb(tar.stdout) as unknown as BodyInit }), packed]);

        if (files.includes('requirements.txt') || files.includes('package.json')) {
          say('installing dependencies');
          const r = await ctx.api.call('exec', { params: { name }, body: { command: ['sh', '-c', INSTALL], timeoutMs: 15 * 60_000 } });
          if (r.exitCode !== 0)
            throw new BothubError('RUNTIME_FAILED', `installing dependencies failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
        }

        const rec = await ctx.api.call('startExec', { params: { name }, body: { command, workdir: WORKSPACE, env } });
        await ctx.api.fetch('writeFile', { params: { name }, query: { path: RUN_STATE }, rawBody: JSON.stringify({ exec: rec.id }) });
        let urls: { port: number; url: string; pathUrl: string }[] = [];
        for (const port of ports) {
          const sb = await ctx.api.call('publish', { params: { name }, body: { port } });
          urls = sb.urls.map((u) => ({ port: u.port, url: u.url, pathUrl: u.pathUrl }));
        }
        if (ctx.json) return printJson({ name, exec: rec.id, urls });
        process.stdout.write(`sandbox  ${name}\ncommand  ${rec.id}  (bothub logs ${name} --exec ${rec.id} -f)\n`);
        for (const u of urls) process.stdout.write(`port ${u.port}  ${u.url}  (or ${u.pathUrl})\n`);
      }),
    );
}
