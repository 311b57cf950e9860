import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { generateRentalKey } from '../daemon/rent/rental-key.js';

describe("a rental's SSH key", () => {
  // ssh2 alone makes about one malformed ed25519 pair in 256: over 2,000 keys, one would show here almost surely.
  it('always parses back, both halves, as the connection to the rented machine will need', () => {
    for (let i = 0; i < 2000; i++) {
      const keys = generateRentalKey(`bothub-test-${i}`);
      for (const half of [keys.public, keys.private]) {
        const parsed = ssh2.utils.parseKey(half);
        assert.ok(!(parsed instanceof Error), `key ${i}: ${parsed instanceof Error ? parsed.message : ''}`);
      }
    }
  });
});
