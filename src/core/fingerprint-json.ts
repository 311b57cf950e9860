import { Value } from 'typebox/value';
import { HostFingerprintSchema, type HostFingerprint } from './fingerprint.js';

/** A fingerprint as stored (JSON text), checked against the schema instead of trusted. */
export function parseFingerprint(json: string): HostFingerprint {
  const value: unknown = JSON.parse(json);
  if (!Value.Check(HostFingerprintSchema, value)) throw new Error(`a stored host fingerprint does not match its schema: ${json.slice(0, 200)}`);
  return value;
}
