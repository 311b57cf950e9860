import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `bh_<keyid>_<secret>`. The key id finds the user; only
 * the secret's sha256 is stored, and it is compared in constant time. Keys are
 * 192 random bits, so a fast hash is enough (no password stretching needed).
 */
const KEY_RE = /^bh_([a-z0-9]{12})_([A-Za-z0-9_-]{32})$/;

export interface ParsedKey {
  keyId: string;
  secret: string;
}

export function parseApiKey(token: string): ParsedKey | undefined {
  const m = KEY_RE.exec(token);
  return m ? { keyId: m[1]!, secret: m[2]! } : undefined;
}

export const formatApiKey = (keyId: string, secret: string) => `bh_${keyId}_${secret}`;

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
