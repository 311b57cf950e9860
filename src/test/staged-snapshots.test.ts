import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Described } from '../daemon/services/snapshot-resume.js';
import { StagedSnapshots } from '../daemon/services/staged-snapshots.js';

/** A staging area that counts its releases (the real one unmounts a tmpfs: staged-restore.test.ts). */
function counted(dir: string) {
  const staging = { dir, inMemory: true, releases: 0, release: async () => void staging.releases++ };
  return staging;
}
const described = { id: 'abc' } as Described;

describe('staging areas lent to restores', () => {
  it('the last holder out releases it, once, whichever of ingest and restores ends last', async () => {
    const staged = new StagedSnapshots();
    const staging = counted('/x/.partial-abc.sb.staging');
    const ingestDone = staged.open('abc', staging, described);
    const first = staged.take('abc')!;
    const second = staged.take('abc')!;
    assert.equal(first.dir, staging.dir);
    assert.equal(first.described, described);
    await ingestDone();
    assert.equal(staged.take('abc'), undefined, 'nothing is lent once the ingest has ended');
    assert.deepEqual(staged.names(), ['.partial-abc.sb.staging'], 'still held: not a leftover');
    await first.release();
    await first.release(); // twice from one holder counts once
    assert.equal(staging.releases, 0);
    await second.release();
    assert.equal(staging.releases, 1);
    assert.deepEqual(staged.names(), []);
    await ingestDone();
    assert.equal(staging.releases, 1);
  });

  it('with no restore, the ingest releases it as it ends', async () => {
    const staged = new StagedSnapshots();
    const staging = counted('/x/s');
    const ingestDone = staged.open('abc', staging, described);
    const restore = staged.take('abc')!;
    await restore.release();
    assert.equal(staging.releases, 0, 'the ingest still reads it');
    await ingestDone();
    assert.equal(staging.releases, 1);
    assert.equal(staged.take('abc'), undefined);
  });
});
