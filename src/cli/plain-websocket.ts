import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { Socket } from 'node:net';

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const Op = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

/**
 * What a command's stream needs of a WebSocket: `ws`'s client and the plain
 * one below both are this.
 */
export interface CommandSocket {
  readonly OPEN: number;
  readonly readyState: number;
  send(data: string | Buffer): void;
  /** 'open', 'close', 'error' (Error), 'message' (Buffer, isBinary), 'unexpected-response' (request, IncomingMessage). */
  on(event: string, fn: (...args: any[]) => void): unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * An RFC 6455 client of the few frames the exec socket uses, over node:http's
 * upgrade, for `bothub exec`: loading the `ws` library (and the TLS, HTTPS
 * and zlib modules it pulls in) was a third of the command's start-up, and a
 * command is one process per call. Plain `ws://` only (the CLI's daemon on
 * this host or behind a proxy that speaks HTTP); no extensions are offered, so
 * the daemon sends none. Every other WebSocket of the CLI still uses `ws`.
 */
export class PlainWebSocket extends EventEmitter implements CommandSocket {
  readonly OPEN = 1;
  readyState = 0;
  private socket?: Socket;
  private pending: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentBinary = false;

  constructor(url: string, headers: Record<string, string>, handshakeTimeoutMs = 0) {
    super();
    const u = new URL(url);
    if (u.protocol !== 'ws:') throw new TypeError(`PlainWebSocket: only ws:// URLs (${u.protocol})`);
    const key = randomBytes(16).toString('base64');
    const req = http.request({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port || 80,
      path: u.pathname + u.search,
      headers: { ...headers, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': key },
      ...(handshakeTimeoutMs ? { timeout: handshakeTimeoutMs } : {}),
    });
    req.on('timeout', () => req.destroy(new Error('the WebSocket handshake timed out')));
    req.on('error', (e) => this.fail(e));
    req.on('response', (res) => this.emit('unexpected-response', req, res));
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      req.setTimeout(0);
      if (res.headers['sec-websocket-accept'] !== createHash('sha1').update(key + ACCEPT_GUID).digest('base64')) {
        socket.destroy();
        return this.fail(new Error('the server did not accept the WebSocket handshake'));
      }
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('data', (b: Buffer) => this.receive(b));
      socket.on('error', (e) => this.fail(e));
      socket.on('close', () => this.closed());
      this.readyState = this.OPEN;
      this.emit('open');
      if (head.length) this.receive(head);
    });
    req.end();
  }

  send(data: string | Buffer): void {
    if (this.readyState !== this.OPEN) return;
    const binary = Buffer.isBuffer(data);
    this.frame(binary ? Op.Binary : Op.Text, binary ? data : Buffer.from(data));
  }

  close(): void {
    if (this.readyState !== this.OPEN) return;
    this.frame(Op.Close, Buffer.alloc(0));
    this.readyState = 2;
    this.socket?.end();
  }

  /** One whole frame, masked as every client frame must be. */
  private frame(opcode: number, payload: Buffer): void {
    const len = payload.length;
    const header = Buffer.alloc(len < 126 ? 6 : len < 65536 ? 8 : 14);
    header[0] = 0x80 | opcode;
    if (len < 126) header[1] = 0x80 | len;
    else if (len < 65536) {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(len, 2);
    } else {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    const mask = randomBytes(4);
    mask.copy(header, header.length - 4);
    const masked = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
    this.socket!.write(Buffer.concat([header, masked]));
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      const b = this.pending;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      const maskAt = at;
      if (masked) at += 4;
      if (b.length < at + len) return;
      const payload = Buffer.from(b.subarray(at, at + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ b[maskAt + (i & 3)]!;
      this.pending = b.subarray(at + len);
      this.handle(fin, opcode, payload);
    }
  }

  private handle(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode === Op.Ping) return this.frame(Op.Pong, payload);
    if (opcode === Op.Pong) return;
    if (opcode === Op.Close) {
      // Answered with its status code, as RFC 6455 §5.5.1 asks; then the daemon closes the TCP connection.
      if (this.readyState === this.OPEN) this.frame(Op.Close, payload.subarray(0, 2));
      this.readyState = 2;
      this.socket?.end();
      return;
    }
    if (opcode !== Op.Continuation) {
      this.fragments = [];
      this.fragmentBinary = opcode === Op.Binary;
    }
    this.fragments.push(payload);
    if (!fin) return;
    const message = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
    this.fragments = [];
    this.emit('message', message, this.fragmentBinary);
  }

  private fail(e: Error): void {
    this.emit('error', e);
    this.closed();
  }

  private closed(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.emit('close');
  }
}
