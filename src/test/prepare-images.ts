/**
 * Run by scripts/run-tests.mjs before any test file: builds the images the
 * suite shares (the default Debian, and Debian with redis-server) into the
 * test images directory, so that files running side by side never build the
 * same image at once (minutes on a fresh machine, nothing after). Each
 * further lane's images directory, named in the arguments, gets links to
 * them: the lanes share the images, but not the layers and partial builds
 * their tests make.
 */
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startTestDaemon, TEST_IMAGES_DIR } from './helpers/daemon.js';

const SHARED = ['debian', 'test-redis'];

const t = await startTestDaemon();
try {
  await t.daemon.ctx.images.ensureDebianWith('test-redis', ['redis-server']);
} finally {
  await t.cleanup();
}
for (const laneDir of process.argv.slice(2)) {
  mkdirSync(laneDir, { recursive: true, mode: 0o700 });
  const present = new Set(readdirSync(laneDir));
  for (const image of SHARED.filter((i) => !present.has(i))) symlinkSync(join(TEST_IMAGES_DIR, image), join(laneDir, image));
}
