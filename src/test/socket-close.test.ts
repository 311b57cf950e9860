import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { BothubError, BusyError } from '../core/index.js';
import { failSocket } from '../daemon/http/socket-route.js';

/**
 * How a socket that fails ends, as a client sees it over a real WebSocket:
 * the API's error shape as the last message, then a close code that says
 * what to do — 1008 a refusal (fix the request), 1013 too busy (the same
 * request later), 1011 our failure.
 */
describe('a socket that fails: its last message and close code', () => {
  let server: WebSocketServer;
  let url: string;
  /** What the server fails the next connection with. */
  let next: unknown;
  before(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => server.once('listening', r));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.on('connection', (ws) => failSocket(ws, next, { id: 'req-1', log: pino({ level: 'silent' }) }));
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  async function failWith(err: unknown): Promise<{ code: number; message: { type: string; code: string; message: string } }> {
    next = err;
    const ws = new WebSocket(url);
    const message = new Promise<string>((r) => ws.once('message', (b: Buffer) => r(b.toString())));
    const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
    return { code, message: JSON.parse(await message) as { type: string; code: string; message: string } };
  }

  it('BUSY closes 1013 (try again later), a refusal 1008, a failure of ours 1011', async () => {
    const busy = await failWith(new BusyError('the daemon could not serve this in time; retry in 2 s', 2, 'raise the pool'));
    assert.equal(busy.code, 1013);
    assert.deepEqual([busy.message.type, busy.message.code], ['error', 'BUSY']);
    assert.equal((await failWith(new BothubError('INVALID_INPUT', 'a text message must be JSON'))).code, 1008);
    const ours = await failWith(new Error('a bug'));
    assert.equal(ours.code, 1011);
    assert.equal(ours.message.code, 'INTERNAL');
  });
});
