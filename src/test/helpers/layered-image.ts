import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_IMAGES_DIR } from './daemon.js';
import { LayoutBuilder, tinyRootfs } from './registry.js';

/** A store of its own, with the shared default image linked in: nothing lands in the shared one. */
export function ownStore(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  symlinkSync(join(TEST_IMAGES_DIR, 'debian'), join(dir, 'debian'));
  return dir;
}

/**
 * An OCI archive of a two-layer image: a tiny root file system, then a layer
 * with a setuid file of another owner, 3 MiB of random bytes (several
 * chunks), a whiteout (usr/bin/pwd deleted) and an opaque directory (srv/
 * shows only what the top layer has).
 */
export function twoLayerArchive(work: string): string {
  const base = join(work, 'l1');
  tinyRootfs(base);
  mkdirSync(join(base, 'srv'));
  writeFileSync(join(base, 'srv/below'), 'hidden by the layer above\n');
  const top = join(work, 'l2');
  mkdirSync(join(top, 'opt'), { recursive: true });
  mkdirSync(join(top, 'usr/bin'), { recursive: true });
  mkdirSync(join(top, 'srv'));
  writeFileSync(join(top, 'opt/tool'), 'a tool\n');
  chownSync(join(top, 'opt/tool'), 1234, 5678);
  chmodSync(join(top, 'opt/tool'), 0o4750);
  writeFileSync(join(top, 'opt/blob'), randomBytes(3 << 20));
  writeFileSync(join(top, 'usr/bin/.wh.pwd'), '');
  writeFileSync(join(top, 'srv/.wh..wh..opq'), '');
  writeFileSync(join(top, 'srv/above'), 'the only one here\n');
  const layout = new LayoutBuilder(work);
  layout.tag('app', layout.manifest([layout.layer(base), layout.layer(top)], { Entrypoint: [], Cmd: ['sleep', '100000'], Env: ['PATH=/usr/bin:/bin'], WorkingDir: '/root', User: '' }));
  const archive = join(work, 'app.tar');
  execFileSync('tar', ['-C', layout.dir, '-cf', archive, '.']);
  return archive;
}

