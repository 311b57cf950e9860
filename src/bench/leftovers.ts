import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LocalHost } from '../hostexec/index.js';
import { readHostObjects } from '../runtime/index.js';
import type { DaemonProcess } from './daemon-process.js';

/** What a data dir holds with no sandbox and no snapshot: the database and the keys. */
const KEPT = new Set(['bothub.db', 'bothub.db-wal', 'bothub.db-shm', 'admin.key', 'master.key']);
/** The next create's empty writable layer, made ahead (spare-layers.ts): one per disk size, no sandbox's. A half-made one is a leftover. */
const SPARE_LAYER = /^spare-layers\/\d+\.img$/;

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out;
}

/** How long a destroyed sandbox's directory may take to go: it is renamed into trash/ at once and deleted behind the reply. */
const TRASH_DRAIN_MS = 60_000;

/** Waits (bounded) for trash/ to empty: what is still there after that is a leftover. */
async function trashDrained(dataDir: string): Promise<void> {
  const deadline = Date.now() + TRASH_DRAIN_MS;
  while ((await readdir(join(dataDir, 'trash')).catch(() => [])).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
}

/**
 * Once every sandbox and snapshot is destroyed: nothing of any of `ids` may be
 * left in the kernel (mounts, network namespaces, veths, cgroups, peer rules),
 * and the data dir holds nothing but the database, the keys and the spare layers.
 */
export async function leftovers(d: DaemonProcess, ids: Set<string>): Promise<string[]> {
  await trashDrained(d.dataDir);
  const o = await readHostObjects(new LocalHost(), { bridge: d.bridge, dataDir: d.dataDir });
  const problems: string[] = [];
  for (const id of ids) {
    if (o.netns.has(id)) problems.push(`network namespace bothub-${id}`);
    if (o.veths.has(id)) problems.push(`veth bh${id}`);
    if (o.cgroups.has(id)) problems.push(`cgroup /bothub/${id}`);
  }
  problems.push(...o.mounts.map((m) => `mount ${m}`));
  problems.push(...[...o.peerRuleAddresses].map((a) => `peer rule naming ${a}`));
  const left = (await files(d.dataDir)).map((f) => relative(d.dataDir, f)).filter((f) => !KEPT.has(f) && !SPARE_LAYER.test(f));
  problems.push(...left.map((f) => `file ${f}`));
  return problems;
}
