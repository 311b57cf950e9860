import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BothubError } from '../../core/index.js';
import type { Host, HostFiles } from '../../hostexec/index.js';
import { unmount } from '../overlay.js';

/**
 * Snapshots of sandboxes that hold secrets are encrypted at rest: their
 * memory pages carry the secrets' values (a process's environment, buffers).
 * Each file is AES-256-GCM under the snapshot's key: [iv 12][ciphertext][tag 16].
 * The clear images only ever live on a tmpfs, never on the snapshot disk.
 */
const IV = 12;
const TAG = 16;

async function* files(host: HostFiles, dir: string): AsyncGenerator<string> {
  for (const e of await host.readdir(dir)) {
    const p = join(dir, e.name);
    if (e.kind === 'directory') yield* files(host, p);
    else if (e.kind === 'file') yield p;
  }
}

async function encryptFile(host: HostFiles, src: string, dst: string, key: Buffer, signal?: AbortSignal): Promise<void> {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const out = await host.createWriteStream(dst, { mode: 0o600 });
  out.write(iv);
  await pipeline(await host.createReadStream(src), cipher, out, { end: false, signal });
  await new Promise<void>((resolve, reject) => out.end(cipher.getAuthTag(), () => resolve()).once('error', reject));
}

async function decryptFile(host: HostFiles, src: string, dst: string, key: Buffer, signal?: AbortSignal): Promise<void> {
  const fh = await host.open(src, 'r');
  let size: number;
  const head = Buffer.alloc(IV);
  const tag = Buffer.alloc(TAG);
  try {
    size = (await fh.stat()).size;
    if (size < IV + TAG) throw new BothubError('INVALID_STATE', `${src} is too short to be an encrypted snapshot file; the snapshot is damaged`);
    await fh.read(head, 0, IV, 0);
    await fh.read(tag, 0, TAG, size - TAG);
  } finally {
    await fh.close();
  }
  const decipher = createDecipheriv('aes-256-gcm', key, head);
  decipher.setAuthTag(tag);
  // An empty file (an empty console log) has no ciphertext: a read stream cannot cover zero bytes.
  const body = size > IV + TAG ? await host.createReadStream(src, { start: IV, end: size - TAG - 1 }) : Readable.from([]);
  try {
    await pipeline(body, decipher, await host.createWriteStream(dst, { mode: 0o600 }), { signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new BothubError('INVALID_STATE', `${src} failed its integrity check on decryption (damaged, or the master key changed)`, { cause: e });
  }
}

/** Encrypts every file under `clear` into the same paths under `sealed`. */
export async function sealTree(host: HostFiles, clear: string, sealed: string, key: Buffer, signal?: AbortSignal): Promise<void> {
  for await (const path of files(host, clear)) {
    const dst = join(sealed, relative(clear, path));
    await host.mkdir(dirname(dst), { recursive: true });
    await encryptFile(host, path, dst, key, signal);
  }
}

/** Decrypts every file under `sealed` into `clear`, checking each one's tag. */
export async function openTree(host: HostFiles, sealed: string, clear: string, key: Buffer, skip: (rel: string) => boolean, signal?: AbortSignal): Promise<void> {
  for await (const path of files(host, sealed)) {
    const rel = relative(sealed, path);
    if (skip(rel)) continue;
    await host.mkdir(dirname(join(clear, rel)), { recursive: true });
    await decryptFile(host, path, join(clear, rel), key, signal);
  }
}

/** A private RAM-backed directory for clear images; `release` unmounts it (and so frees it) exactly once. */
export async function mountScratch(host: Host, dir: string): Promise<() => Promise<void>> {
  await unmount(host, dir);
  await host.mkdir(dir, { recursive: true, mode: 0o700 });
  await host.run('mount', ['-t', 'tmpfs', '-o', 'mode=0700,nosuid,nodev', 'tmpfs', dir]);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await unmount(host, dir);
  };
}
