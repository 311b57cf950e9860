import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * A WebSocket handshake by hand, for what no well-behaved client sends: a
 * frame cut off mid-way, or one that claims more bytes than exist. Resolves
 * with the raw connection, or the HTTP status of a refused upgrade.
 */
export function rawUpgrade(url: string, token: string | undefined): Promise<Duplex | number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
    req.on('upgrade', (_res, socket) => resolve(socket));
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One client frame header (masked, as a client must), claiming `length` payload bytes; then the masked payload. */
export function clientFrame(opcode: number, payload: Buffer, claimedLength = payload.length): Buffer {
  const mask = randomBytes(4);
  let head: Buffer;
  if (claimedLength < 126) head = Buffer.from([0x80 | opcode, 0x80 | claimedLength]);
  else if (claimedLength < 65536) {
    head = Buffer.alloc(4);
    head.writeUInt16BE(claimedLength, 2);
    head[1] = 0x80 | 126;
  } else {
    head = Buffer.alloc(10);
    head.writeBigUInt64BE(BigInt(claimedLength), 2);
    head[1] = 0x80 | 127;
  }
  head[0] = 0x80 | opcode;
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, masked]);
}
