import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { claimNumber } from './helpers/claims.js';

const CLAIMS = new URL('./helpers/claims.js', import.meta.url).href;
const DIR = '/run/bothub-test-claims';

/** Another process that claims a number of `kind` and holds it until its stdin closes. */
async function holder(kind: string, size: number): Promise<{ n: number; end(): Promise<void> }> {
  const script = `import(${JSON.stringify(CLAIMS)}).then((m) => { console.log(m.claimNumber(${JSON.stringify(kind)}, ${size}).n); process.stdin.resume(); })`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  return {
    n: Number(line.toString()),
    end: async () => {
      const exited = once(child, 'exit');
      child.stdin.end();
      await exited;
    },
  };
}

describe('test claims (numbers files running side by side must not share)', () => {
  it('processes get different numbers; a claim goes with its owner', async () => {
    const kind = `t${randomBytes(4).toString('hex')}`;
    const other = await holder(kind, 2);
    const mine = claimNumber(kind, 2);
    assert.notEqual(mine.n, other.n);
    assert.throws(() => claimNumber(kind, 2), /every t[0-9a-f]+ number is claimed by a running test/);
    await other.end();
    assert.equal(existsSync(`${DIR}/${kind}-${other.n}`), false, 'released when the process exited');
    const again = claimNumber(kind, 2);
    assert.equal(again.n, other.n);
    mine.release();
    again.release();
    assert.equal(existsSync(`${DIR}/${kind}-${mine.n}`), false);
  });

  it('takes over a claim whose owner died without letting go (a file killed by its timeout)', () => {
    const kind = `t${randomBytes(4).toString('hex')}`;
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    mkdirSync(DIR, { recursive: true });
    const stale = `${DIR}/.stale-${kind}`;
    writeFileSync(stale, dead.stdout.trim());
    linkSync(stale, `${DIR}/${kind}-0`);
    const claim = claimNumber(kind, 1);
    assert.equal(claim.n, 0);
    claim.release();
    rmSync(stale);
  });
});
