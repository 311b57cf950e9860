// bothub-spawner's protocol exists twice, in C (native/spawner/protocol.h) and
// in TypeScript (src/hostexec/spawner-protocol.ts): this holds the constants
// equal, then speaks raw frames to the real binary.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { encodeRun, SPAWNER_FRAME_HEADER, SPAWNER_FRAME_MAX, SPAWNER_PROTOCOL_VERSION, SpawnerFrame, SpawnerFrameReader, spawnerFrame } from '../hostexec/index.js';
import { assertSameFrameTypes, cDefines } from './helpers/c-defines.js';

const HEADER = new URL('../../native/spawner/protocol.h', import.meta.url);
const BINARY = new URL('../../native/build/bothub-spawner', import.meta.url).pathname;

/** C name → TypeScript name of each frame type. */
const FRAME_NAMES: Record<string, keyof typeof SpawnerFrame> = {
  S_RUN: 'Run',
  S_STDIN: 'Stdin',
  S_STDIN_EOF: 'StdinEof',
  S_KILL: 'Kill',
  S_STARTED: 'Started',
  S_FAILED: 'Failed',
  S_STDOUT: 'Stdout',
  S_STDERR: 'Stderr',
  S_EXIT: 'Exit',
};

type Frame = { type: number; id: number; payload: Buffer };

/** A bare bothub-spawner, spoken to frame by frame. */
function rawSpawner() {
  const proc = spawn(BINARY, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  const frames: Frame[] = [];
  const waiters: (() => void)[] = [];
  const reader = new SpawnerFrameReader();
  proc.stdout.on('data', (chunk: Buffer) =>
    reader.push(chunk, (type, id, payload) => {
      frames.push({ type, id, payload: Buffer.from(payload) });
      waiters.splice(0).forEach((w) => w());
    }),
  );
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    proc,
    exited,
    send: (frame: Buffer) => proc.stdin.write(frame),
    /** Resolves with the first frame (removed from the queue) of that type and id. */
    async next(type: number, id: number): Promise<Frame> {
      for (;;) {
        const i = frames.findIndex((f) => f.type === type && f.id === id);
        if (i >= 0) return frames.splice(i, 1)[0]!;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

const env = ['PATH=/usr/bin:/bin'];

describe('spawner protocol', () => {
  const defines = cDefines(readFileSync(HEADER, 'utf8'));

  it('frame types agree between protocol.h and spawner-protocol.ts', () => {
    assertSameFrameTypes(defines, 'S_', FRAME_NAMES, SpawnerFrame);
  });

  it('frame sizes and the request version agree', () => {
    assert.equal(defines.get('SPAWNER_FRAME_HEADER'), SPAWNER_FRAME_HEADER);
    assert.equal(defines.get('SPAWNER_FRAME_MAX'), SPAWNER_FRAME_MAX);
    assert.equal(defines.get('SPAWNER_PROTOCOL_VERSION'), SPAWNER_PROTOCOL_VERSION);
  });

  it('runs a command from raw frames: started, stdin echoed to stdout, stderr, exit code', async () => {
    const s = rawSpawner();
    try {
      s.send(encodeRun(7, { argv: ['sh', '-c', 'cat; echo oops >&2; exit 5'], env, cwd: '/', stdinPipe: true })!);
      s.send(spawnerFrame(SpawnerFrame.Stdin, 7, Buffer.from('hello')));
      s.send(spawnerFrame(SpawnerFrame.StdinEof, 7));
      assert.ok((await s.next(SpawnerFrame.Started, 7)).payload.readInt32BE(0) > 1);
      assert.equal((await s.next(SpawnerFrame.Stdout, 7)).payload.toString(), 'hello');
      assert.equal((await s.next(SpawnerFrame.Stderr, 7)).payload.toString(), 'oops\n');
      const exit = (await s.next(SpawnerFrame.Exit, 7)).payload;
      assert.deepEqual([exit.readInt32BE(0), exit.readInt32BE(4)], [5, 0]);
    } finally {
      s.proc.kill('SIGKILL');
    }
  });

  it('answers a request it cannot read with EPROTO, and a missing program with ENOENT', async () => {
    const s = rawSpawner();
    try {
      const run = encodeRun(1, { argv: ['true'], env, cwd: '', stdinPipe: false })!;
      run[SPAWNER_FRAME_HEADER] = '9'.charCodeAt(0); // another protocol version
      s.send(run);
      assert.equal((await s.next(SpawnerFrame.Failed, 1)).payload.readInt32BE(0), constants.errno.EPROTO);
      const fields = (...f: string[]) => Buffer.from(f.map((x) => x + '\0').join(''));
      const malformed = [
        fields('1', '', '0', '0', '0'), // no program
        fields('1', '', '0', '5', 'sh', '0'), // fewer arguments than counted
        fields('1', '', '0', '1', 'true', '1'), // fewer environment entries than counted
        fields('1', '', '0', '1', 'true', '0', 'extra'),
        Buffer.concat([fields('1', '', '0', '1'), Buffer.from('true')]), // the last field lacks its NUL
      ];
      for (const [i, payload] of malformed.entries()) {
        s.send(spawnerFrame(SpawnerFrame.Run, 10 + i, payload));
        assert.equal((await s.next(SpawnerFrame.Failed, 10 + i)).payload.readInt32BE(0), constants.errno.EPROTO, `malformed request ${i}`);
      }
      s.send(encodeRun(2, { argv: ['bothub-no-such-program'], env, cwd: '', stdinPipe: false })!);
      assert.equal((await s.next(SpawnerFrame.Failed, 2)).payload.readInt32BE(0), constants.errno.ENOENT);
    } finally {
      s.proc.kill('SIGKILL');
    }
  });

  it('stops at a frame over the limit instead of buffering it', async () => {
    const s = rawSpawner();
    const header = spawnerFrame(SpawnerFrame.Stdin, 1).subarray(0, SPAWNER_FRAME_HEADER);
    header.writeUInt32BE(SPAWNER_FRAME_MAX + 1, 5);
    s.send(header);
    assert.deepEqual(await s.exited, [1, null]);
  });

  it('exits when the daemon closes its end, leaving its commands running (a container runc started survives a daemon restart)', async () => {
    const s = rawSpawner();
    s.send(encodeRun(1, { argv: ['sleep', '30'], env, cwd: '', stdinPipe: false })!);
    const pid = (await s.next(SpawnerFrame.Started, 1)).payload.readInt32BE(0);
    try {
      s.proc.stdin.end();
      assert.deepEqual(await s.exited, [0, null]);
      process.kill(pid, 0); // throws ESRCH if the command died with the spawner
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });
});
