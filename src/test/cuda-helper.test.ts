import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const HELPER = fileURLToPath(new URL('../../native/build/bothub-cuda-checkpoint', import.meta.url));
const CUDA_H = `${process.env.CUDA_HOME ?? '/usr/local/cuda'}/include/cuda.h`;
const run = (...args: string[]) => spawnSync(HELPER, args, { encoding: 'utf8' });

describe('the CUDA checkpoint helper', { skip: existsSync(CUDA_H) ? false : `no ${CUDA_H} here: the helper is built where the CUDA toolkit is` }, () => {
  it('is built by the set-up against cuda.h, and answers --help without a GPU', () => {
    assert.ok(existsSync(HELPER), `${HELPER} was not built (make -C native)`);
    const help = run('--help');
    assert.equal(help.status, 0);
    for (const cmd of ['get-state', 'lock', 'checkpoint', 'restore', 'unlock']) assert.match(help.stdout, new RegExp(`^  ${cmd} +--pid PID`, 'm'));
  });

  it('refuses bad usage with exit 2 and one line', () => {
    for (const args of [
      ['lock'],
      ['frobnicate', '--pid', '1'],
      ['lock', '--pid', 'x'],
      ['restore', '--pid', '1', '--remap', 'GPU-12=GPU-34'],
      ['lock', '--pid', '1', '--remap', 'a=b'],
    ]) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });

  it('says plainly when the host has no NVIDIA driver (exit 3)', { skip: existsSync('/dev/nvidiactl') ? 'this host has a GPU driver' : false }, () => {
    const r = run('get-state', '--pid', String(process.pid));
    assert.equal(r.status, 3);
    assert.match(r.stderr, /libcuda\.so\.1 cannot be loaded .*no NVIDIA driver on this host/);
  });
});

describe('gpu/verify, the real-GPU check', () => {
  const VERIFY = fileURLToPath(new URL('../../gpu/verify', import.meta.url));

  it(
    'stops at once, saying why, on a machine without an NVIDIA GPU (and leaves nothing in /dev/shm)',
    { skip: existsSync('/dev/nvidiactl') ? 'this host has a GPU: run gpu/verify itself' : false },
    () => {
      const before = readdirSync('/dev/shm').filter((f) => f.startsWith('bothub-gpu-verify')).length;
      const r = spawnSync(VERIFY, [], { encoding: 'utf8', env: { ...process.env, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^FAIL: nvidia-smi is not here: this needs a machine with an NVIDIA GPU$/m);
      assert.equal(readdirSync('/dev/shm').filter((f) => f.startsWith('bothub-gpu-verify')).length, before);
    },
  );
});
