import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BothubError } from '../../core/index.js';
import { LocalHost, pipeBetween, type SshHost } from '../../hostexec/index.js';

/** This installation: what an agent runs is exactly the control plane's own build. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PARTS = ['package.json', 'bin', 'dist', 'native/build', 'scripts'];
/** Sources better-sqlite3 was built from; the built module is all that runs. */
const EXCLUDE = ['node_modules/better-sqlite3/deps', 'node_modules/better-sqlite3/src'];
const MIN_NODE_MAJOR = 20;

async function* walk(path: string): AsyncGenerator<string> {
  const s = await stat(path);
  if (!s.isDirectory()) {
    yield path;
    return;
  }
  for (const e of await readdir(path)) yield* walk(join(path, e));
}

/** The production dependencies, as the lock file names them. */
async function runtimeModules(): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([k, v]) => k.startsWith('node_modules/') && !v.dev)
    .map(([k]) => k);
}

export interface Release {
  /** Content id: a host that has this one is up to date. */
  id: string;
  paths: string[];
}

let cached: Promise<Release> | undefined;

/** What gets installed on hosts, and its id (the build's files and the dependency lock). */
export function currentRelease(): Promise<Release> {
  return (cached ??= (async () => {
    const hash = createHash('sha256').update(await readFile(join(ROOT, 'package-lock.json')));
    for (const part of PARTS)
      for await (const file of walk(join(ROOT, part))) {
        const s = await stat(file);
        hash.update(`${file.slice(ROOT.length)}\0${s.size}\0${s.mtimeMs}\n`);
      }
    return { id: hash.digest('hex').slice(0, 16), paths: [...PARTS, ...(await runtimeModules())] };
  })());
}

/** Where a release lives in an agent's data directory. */
export const releaseDir = (dataDir: string, id: string) => join(dataDir, 'agent', id);

/**
 * Puts this build on the host (once per release: a tar stream over SSH into a
 * temporary directory, renamed into place when whole) and returns where.
 */
export async function installRelease(host: SshHost, dataDir: string, signal?: AbortSignal): Promise<string> {
  // A missing node is an answer (exit 127); a host that cannot be reached fails here with that reason.
  const node = await host.run('sh', ['-c', 'command -v node >/dev/null && node --version || true'], { signal });
  const major = Number(/^v(\d+)/.exec(node.stdout)?.[1] ?? 0);
  if (major < MIN_NODE_MAJOR)
    throw new BothubError(
      'INVALID_STATE',
      `host "${host.name}" needs Node.js ${MIN_NODE_MAJOR} or newer for bothub's agent (found ${node.stdout.trim() || 'none'}); install it there and add the host again`,
    );
  const release = await currentRelease();
  const dir = releaseDir(dataDir, release.id);
  if ((await host.run('test', ['-x', join(dir, 'bin', 'bothub')], { allowFailure: true, signal })).code === 0) return dir;
  await pipeBetween(
    new LocalHost(),
    ['tar', ['-C', ROOT, '-c', ...EXCLUDE.map((e) => `--exclude=${e}`), '--', ...release.paths]],
    host,
    ['sh', ['-c', 'rm -rf -- "$0.part" && mkdir -p -- "$0.part" && tar -C "$0.part" -x && rm -rf -- "$0" && mv -- "$0.part" "$0"', dir]],
    { signal },
  );
  return dir;
}

/**
 * Starts the agent of `release` unless it already runs; an agent of another
 * release is stopped first (an update). Detached with setsid: it outlives
 * the SSH session that started it.
 */
export async function startAgent(host: SshHost, dataDir: string, release: string, signal?: AbortSignal): Promise<void> {
  const script = [
    'd="$0"; r="$1"',
    'pid=$(cat "$d/agent.pid" 2>/dev/null || true)',
    // The agent of this data directory, by its command line: a killed agent's PID may belong to any
    // process by now (PIDs are reused), and a zombie's command line is empty.
    'cmd=$(tr "\\0" " " < "/proc/$pid/cmdline" 2>/dev/null || true)',
    'case "$cmd" in *" agent --data-dir $d "*) ours=1 ;; *) ours= ;; esac',
    'if [ -n "$pid" ] && [ -n "$ours" ]; then',
    '  [ "$(cat "$d/agent.release" 2>/dev/null)" = "$r" ] && exit 0',
    '  kill -TERM "$pid"; for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done',
    'fi',
    'mkdir -p "$d" && printf "%s\\n" "$r" > "$d/agent.release"',
    'BOTHUB_DATA_DIR="$d" setsid -f node "$d/agent/$r/bin/bothub" agent --data-dir "$d" >>"$d/agent.log" 2>&1 </dev/null',
  ].join('\n');
  await host.run('sh', ['-c', script, dataDir, release], { signal });
}
