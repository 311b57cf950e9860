import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { BothubError } from '../../core/index.js';

const KEY_HEX = /^[0-9a-f]{64}$/i;

/**
 * The key in `file`, or undefined when there is none yet. A file that exists
 * but cannot be read or holds no key stops the start: making a new key would
 * lose every secret and sealed snapshot.
 */
async function readKeyFile(file: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new BothubError('INVALID_INPUT', `cannot read the master key file ${file} (${code ?? (e as Error).message}); make it a readable file (mode 0600, owned by the daemon's user) or set BOTHUB_MASTER_KEY`);
  }
  if (!KEY_HEX.test(text.trim()))
    throw new BothubError(
      'INVALID_INPUT',
      `the master key file ${file} is malformed (it must hold 64 hex characters); put back the original key from a backup, since secrets and sealed snapshots need it`,
    );
  return Buffer.from(text.trim(), 'hex');
}

/**
 * Secrets are sealed with AES-256-GCM under one master key: env
 * BOTHUB_MASTER_KEY (64 hex characters), or <data-dir>/master.key (0600),
 * made on first start.
 */
export class Sealer {
  private constructor(private readonly key: Buffer) {}

  static async load(file: string, fromEnv = process.env.BOTHUB_MASTER_KEY): Promise<Sealer> {
    if (fromEnv) {
      if (!KEY_HEX.test(fromEnv.trim()))
        throw new BothubError('INVALID_INPUT', 'BOTHUB_MASTER_KEY must be 64 hex characters (32 bytes); generate one with `openssl rand -hex 32`');
      return new Sealer(Buffer.from(fromEnv.trim(), 'hex'));
    }
    const existing = await readKeyFile(file);
    if (existing !== undefined) return new Sealer(existing);
    const key = randomBytes(32);
    // 'wx': never overwrite a key another start just wrote.
    await writeFile(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    return new Sealer(key);
  }

  /** A MAC under a key derived for one purpose, so the sealing key itself never signs anything. */
  sign(purpose: string, data: string): string {
    const key = createHmac('sha256', this.key).update(`bothub:${purpose}`).digest();
    return createHmac('sha256', key).update(data).digest('base64url');
  }

  verify(purpose: string, data: string, mac: string): boolean {
    const want = Buffer.from(this.sign(purpose, data));
    const got = Buffer.from(mac);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  /** A 32-byte key for one purpose (one snapshot's images, one cold sandbox): nothing to store, and one leaked key opens nothing else. */
  deriveKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), `bothub:${purpose}`, 32));
  }

  seal(plaintext: string, context: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    // The owner and name are bound in as associated data: a sealed value cannot be moved to another secret.
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  open(sealed: Buffer, context: string): string {
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, 12));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(sealed.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new BothubError('INTERNAL', 'a secret could not be decrypted: the master key changed; restore the original BOTHUB_MASTER_KEY or master.key');
    }
  }
}
