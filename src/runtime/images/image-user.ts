// Local only: read synchronously, from the layers of this process's own image store, where a sandbox's definition is built.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BothubError } from '../../core/index.js';

/** A file of the image as the sandbox will see it: from the topmost layer that has it. */
function readFromLayers(lowerDirs: readonly string[], path: string): string | undefined {
  for (const dir of lowerDirs) {
    try {
      return readFileSync(join(dir, path), 'utf8');
    } catch {
      // not in this layer (a whiteout is a device, which reads as an error too)
    }
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
export function resolveImageUser(user: string, lowerDirs: readonly string[]): { uid: number; gid: number } | undefined {
  if (!user) return undefined;
  const [u, g] = user.split(':') as [string, string | undefined];
  const passwd = /^\d+$/.test(u) && g !== undefined && /^\d+$/.test(g) ? undefined : readFromLayers(lowerDirs, 'etc/passwd');
  const uid = /^\d+$/.test(u) ? Number(u) : lookup(passwd, u, 2);
  if (uid === undefined) throw new BothubError('INVALID_INPUT', `the image runs as user "${u}", which its /etc/passwd does not name; pass a command or fix the image`);
  let gid: number | undefined;
  if (g === undefined) gid = /^\d+$/.test(u) ? (lookup(passwd, String(uid), 3) ?? lookupByUid(passwd, uid) ?? 0) : lookup(passwd, u, 3);
  else gid = /^\d+$/.test(g) ? Number(g) : lookup(readFromLayers(lowerDirs, 'etc/group'), g, 2);
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
