import ssh2 from 'ssh2';

/**
 * A fresh SSH key pair for one rental. ssh2's ed25519 generator strips
 * leading zero bytes from the public key, so about one key in 256 comes out
 * malformed and is refused by its own parser (mscdex/ssh2 #1390, #1513):
 * the rent would then fail after the machine was paid for. A pair is kept
 * only once both halves parse back.
 */
export function generateRentalKey(comment: string): { public: string; private: string } {
  for (let attempt = 0; ; attempt++) {
    const keys = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    const pub = ssh2.utils.parseKey(keys.public);
    const priv = ssh2.utils.parseKey(keys.private);
    if (!(pub instanceof Error) && !(priv instanceof Error)) return keys;
    if (attempt >= 16) throw new Error(`could not generate a usable ed25519 key in ${attempt + 1} attempts`);
  }
}
