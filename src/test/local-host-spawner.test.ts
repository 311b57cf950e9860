// LocalHost.run through bothub-spawner (native/spawner): the same results and
// errors as child_process, output and input in both directions without a
// deadlock, aborts that kill, and a spawner that dies, wedges or is missing
// never losing or hanging a command.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandSpawner, LocalHost, type RunOptions } from '../hostexec/index.js';
import { processExists } from './helpers/processes.js';

const BINARY = new URL('../../native/build/bothub-spawner', import.meta.url).pathname;
const LOCAL_HOST_MODULE = new URL('../hostexec/index.js', import.meta.url).href;
const MiB = 1024 * 1024;

const spawners: CommandSpawner[] = [];
function spawnerHost(options?: ConstructorParameters<typeof CommandSpawner>[1], binary = BINARY) {
  const spawner = new CommandSpawner(binary, options);
  spawners.push(spawner);
  return { spawner, host: new LocalHost(spawner) };
}
const plain = new LocalHost(null);

/** What a run came to, errors included, in a form deepEqual compares. */
async function outcome(host: LocalHost, command: string, args: string[], options?: RunOptions) {
  try {
    return { result: await host.run(command, args, options) };
  } catch (e) {
    const err = e as Error & { code?: string; errno?: number; result?: unknown };
    return { error: { name: err.name, message: err.message, code: err.code, errno: err.errno, result: err.result } };
  }
}

async function waitGone(pid: number): Promise<void> {
  while (processExists(pid)) await sleep(20);
}

/** Runs `sh -c SCRIPT` (which must print its pid first) and resolves with that pid once it runs, and the run's promise. */
function started(host: LocalHost, script: string, options: RunOptions = {}) {
  let onPid!: (pid: number) => void;
  const pid = new Promise<number>((r) => (onPid = r));
  const run = host.run('sh', ['-c', `echo $$; ${script}`], { ...options, onStdout: (c) => onPid(Number(c.split('\n')[0])) });
  return { pid, run };
}

after(() => spawners.forEach((s) => s.close()));

describe('LocalHost through bothub-spawner', { timeout: 120_000 }, () => {
  it('runs commands as children of the spawner, not of the daemon', async () => {
    const { spawner, host } = spawnerHost();
    const { stdout } = await host.run('sh', ['-c', 'echo $PPID']);
    assert.ok(spawner.pid);
    assert.equal(Number(stdout), spawner.pid);
  });

  it('gives the same results and errors as child_process', async () => {
    const { spawner, host } = spawnerHost();
    const dir = mkdtempSync(join(tmpdir(), 'bothub-spawner-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'not-executable'), 'echo no\n', { mode: 0o644 });
    writeFileSync(join(dir, 'no-shebang'), 'echo "run by sh: $1"\n', { mode: 0o755 });
    const cases: [string, string[], RunOptions?][] = [
      ['sh', ['-c', 'echo out; echo err >&2']],
      ['sh', ['-c', 'echo out; echo err >&2; exit 3']],
      ['sh', ['-c', 'echo half; exit 3'], { allowFailure: true }],
      ['sh', ['-c', 'kill -TERM $$'], { allowFailure: true }],
      ['sh', ['-c', 'kill -KILL $$']],
      ['bothub-no-such-program', []],
      [join(dir, 'not-executable'), []], // EACCES
      [join(dir, 'no-shebang'), ['x']], // ENOEXEC: run by /bin/sh, as execvp does
      ['no-shebang', ['y'], { env: { PATH: `/nonexistent:${dir}` } }], // looked up in the command's own PATH
      ['pwd', [], { cwd: '/nonexistent-dir' }],
      ['sh', ['-c', 'echo "$BOTHUB_T|$HOME" && pwd'], { env: { BOTHUB_T: 'a b' }, cwd: '/tmp' }],
      ['cat', [], { input: 'from stdin' }],
      ['cat', [], { input: Buffer.from([0, 1, 2, 255]) }],
      ['cat', [], { input: '' }],
      ['cat', []], // stdin is /dev/null: EOF at once
      ['ls', ['/proc/self/fd']], // only 0, 1, 2 (and ls's own directory fd): no protocol pipe leaks in
      ['grep', ['-E', '^Sig(Blk|Ign)', '/proc/self/status']], // default dispositions, empty mask
    ];
    await host.run('true', []);
    const spawnerPid = spawner.pid;
    for (const [command, args, options] of cases) {
      assert.deepEqual(await outcome(host, command, args, options), await outcome(plain, command, args, options), `${command} ${args.join(' ')}`);
    }
    assert.equal(spawner.pid, spawnerPid, 'one spawner ran them all: none fell back to child_process');
    assert.deepEqual(await outcome(host, 'grep', ['-E', '^Sig(Blk|Ign)', '/proc/self/status']), { result: { code: 0, stdout: 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n', stderr: '' } });
  });

  it('streams more than 1 MiB on stdout and stderr at once, with progress callbacks, without a deadlock', async () => {
    const { host } = spawnerHost();
    const size = 3 * MiB;
    let chunks = 0;
    const r = await host.run('sh', ['-c', `head -c ${size} /dev/zero | tr '\\0' o & head -c ${size} /dev/zero | tr '\\0' e >&2; wait`], { onStdout: () => chunks++ });
    assert.equal(r.stdout.length, size);
    assert.equal(r.stderr.length, size);
    assert.match(r.stdout, /^o+$/);
    assert.match(r.stderr, /^e+$/);
    assert.ok(chunks > 1, 'stdout arrives as it comes, in chunks');
  });

  it('feeds stdin input larger than one frame', async () => {
    const { host } = spawnerHost();
    const input = randomBytes(3 * MiB).toString('base64');
    const r = await host.run('cat', [], { input });
    assert.equal(r.stdout.length, input.length);
    assert.ok(r.stdout === input);
  });

  it('runs 200 commands at once', async () => {
    const { host } = spawnerHost();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => host.run('sh', ['-c', `echo ${i}; echo e${i} >&2`])));
    results.forEach((r, i) => assert.deepEqual(r, { code: 0, stdout: `${i}\n`, stderr: `e${i}\n` }));
  });

  it('on abort rejects with ABORTED and sends the command SIGTERM', async () => {
    const { host } = spawnerHost();
    const ac = new AbortController();
    const { pid, run } = started(host, 'exec sleep 30', { signal: ac.signal });
    const rejected = assert.rejects(run, { code: 'ABORTED', message: 'sh was cancelled' });
    const child = await pid;
    ac.abort();
    await rejected;
    await waitGone(child);
    const early = new AbortController();
    early.abort();
    await assert.rejects(host.run('true', [], { signal: early.signal }), { code: 'ABORTED', message: 'true was cancelled before it started' });
  });

  it('a spawner killed mid-flight fails its running commands at once, and the next command starts a new one', async () => {
    const { spawner, host } = spawnerHost();
    const { pid, run } = started(host, 'exec sleep 30');
    const child = await pid;
    const first = spawner.pid!;
    process.kill(first, 'SIGKILL');
    await assert.rejects(run, { code: 'RUNTIME_FAILED', message: /bothub-spawner, which ran it, died; it may still be running/ });
    assert.ok(processExists(child), 'the command itself keeps running');
    process.kill(child, 'SIGKILL');
    const { stdout } = await host.run('sh', ['-c', 'echo $PPID']);
    assert.notEqual(spawner.pid, first);
    assert.equal(Number(stdout), spawner.pid);
  });

  it('a wedged spawner is given up: the command it did not start runs through child_process', async () => {
    const { spawner, host } = spawnerHost({ startTimeoutMs: 300 });
    await host.run('true', []);
    const wedged = spawner.pid!;
    process.kill(wedged, 'SIGSTOP');
    try {
      const { stdout } = await host.run('sh', ['-c', 'echo $PPID']);
      assert.equal(Number(stdout), process.pid, 'run by the test process itself');
      await waitGone(wedged);
    } finally {
      if (processExists(wedged)) process.kill(wedged, 'SIGKILL');
    }
  });

  it('without the binary every command goes through child_process', async () => {
    const { spawner, host } = spawnerHost({}, '/nonexistent/bothub-spawner');
    const { stdout } = await host.run('sh', ['-c', 'echo $PPID']);
    assert.equal(Number(stdout), process.pid);
    assert.equal(spawner.pid, undefined);
  });

  it('keeps its process alive while a command runs, and not once it is idle', async () => {
    const script = `const { LocalHost } = await import(${JSON.stringify(LOCAL_HOST_MODULE)});
      const r = await new LocalHost().run('sh', ['-c', 'sleep 0.2; echo done']);
      process.stdout.write(r.stdout);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, BOTHUB_SPAWNER: BINARY }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, 'a pending command is not cut off by an unref\'d pipe (exit 13: unsettled top-level await)');
    assert.equal(out, 'done\n');
  });
});
