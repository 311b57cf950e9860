// The exec protocol's constants exist twice, in C for bothub-init and in
// TypeScript for the daemon: this parses the C header and holds the two equal,
// so a change on one side alone fails here instead of in a sandbox.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FRAME_HEADER, FRAME_MAX, FrameType, PROTOCOL_VERSION } from '../runtime/index.js';
import { assertSameFrameTypes, cDefines } from './helpers/c-defines.js';

const HEADER = new URL('../../native/init/protocol.h', import.meta.url);

/** C name → TypeScript name of each frame type. */
const FRAME_NAMES: Record<string, keyof typeof FrameType> = {
  T_REQUEST: 'Request',
  T_STDIN: 'Stdin',
  T_STDIN_EOF: 'StdinEof',
  T_RESIZE: 'Resize',
  T_SIGNAL: 'Signal',
  T_STARTED: 'Started',
  T_STDOUT: 'Stdout',
  T_STDERR: 'Stderr',
  T_EXIT: 'Exit',
  T_ERROR: 'Error',
};

describe('init protocol', () => {
  const defines = cDefines(readFileSync(HEADER, 'utf8'));

  it('frame types agree between protocol.h and protocol.ts', () => {
    assertSameFrameTypes(defines, 'T_', FRAME_NAMES, FrameType);
  });

  it('frame sizes and the request version agree', () => {
    assert.equal(defines.get('FRAME_HEADER'), FRAME_HEADER);
    assert.equal(defines.get('FRAME_MAX'), FRAME_MAX);
    assert.equal(defines.get('PROTOCOL_VERSION'), PROTOCOL_VERSION);
  });

  it('reads the header it checks (a changed #define format fails loudly)', () => {
    assert.throws(() => cDefines('#define T_NEW some_function()'), /cannot read the value of T_NEW/);
    assert.deepEqual([...cDefines("#define A 'R'\n#define B (4 * 1024)\n#define C \"1\"").values()], [0x52, 4096, '1']);
  });
});

describe('bothub-init outside a sandbox', () => {
  it('refuses to start unless it is PID 1, since stopping it signals every process of its PID namespace', () => {
    const init = new URL('../../native/build/bothub-init', import.meta.url).pathname;
    const r = spawnSync(init, ['--socket', '/nonexistent/exec.sock', '--console', '/nonexistent/console.log'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /must be PID 1 of a sandbox/);
  });
});
