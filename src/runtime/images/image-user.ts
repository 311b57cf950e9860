import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import type { SyncFiles } from '../../hostexec/index.js';

/**
 * A file of the image as the sandbox will see it: from the topmost layer that
 * has it (a whiteout is a device, which reads as nothing). Synchronous: read
 * from the layers of this process's own image store as a sandbox's definition is built.
 */
function readFromLayers(files: SyncFiles, lowerDirs: readonly string[], path: string): string | undefined {
  for (const dir of lowerDirs) {
    const text = files.readTextFileSync(join(dir, path));
    if (text !== undefined) return text;
  }
  return undefined;
}

function lookup(file: string | undefined, name: string, field: number): number | undefined {
  for (const line of (file ?? '').split('\n')) {
    const parts = line.split(':');
    if (parts[0] === name && parts[field] !== undefined && /^\d+$/.test(parts[field])) return Number(parts[field]);
  }
  return undefined;
}

/**
 * The OCI config's User ("name", "uid", "name:group", "uid:gid") as numbers,
 * resolved against the image's own /etc/passwd and /etc/group; undefined for root.
 */
export function resolveImageUser(files: SyncFiles, user: string, lowerDirs: readonly string[]): { uid: number; gid: number } | undefined {
  if (!user) return undefined;
  const [u, g] = user.split(':') as [string, string | undefined];
  const passwd = /^\d+$/.test(u) && g !== undefined && /^\d+$/.test(g) ? undefined : readFromLayers(files, lowerDirs, 'etc/passwd');
  const uid = /^\d+$/.test(u) ? Number(u) : lookup(passwd, u, 2);
  if (uid === undefined) throw new BothubError('INVALID_INPUT', `the image runs as user "${u}", which its /etc/passwd does not name; pass a command or fix the image`);
  let gid: number | undefined;
  if (g === undefined) gid = /^\d+$/.test(u) ? (lookup(passwd, String(uid), 3) ?? lookupByUid(passwd, uid) ?? 0) : lookup(passwd, u, 3);
  else gid = /^\d+$/.test(g) ? Number(g) : lookup(readFromLayers(files, lowerDirs, 'etc/group'), g, 2);
  if (gid === undefined) throw new BothubError('INVALID_INPUT', `the image runs as group "${g ?? u}", which its /etc/group does not name`);
  return uid === 0 && gid === 0 ? undefined : { uid, gid };
}

function lookupByUid(passwd: string | undefined, uid: number): number | undefined {
  for (const line of (passwd ?? '').split('\n')) {
    const parts = line.split(':');
    if (parts[2] === String(uid) && /^\d+$/.test(parts[3] ?? '')) return Number(parts[3]);
  }
  return undefined;
}
