import WebSocket from 'ws';
import type { ApiClient, ExecServerMessageT, RouteName, SocketErrorT } from '../../api/index.js';
import { until } from './sandbox.js';

/** A test's client on a socket route: everything it received, the close code, and typed sends. */
export interface SocketProbe {
  ws: WebSocket;
  /** Text messages received, parsed. */
  messages: ExecServerMessageT[];
  /** Binary frames received, without their channel tag, joined. */
  output(): string;
  /** Resolves on open; rejects with the HTTP status when the upgrade is refused. */
  opened: Promise<void>;
  /** Resolves with the close code (1006 when the connection dropped without a close frame). */
  closed: Promise<number>;
  /** The `error` message the socket ended with, if it did. */
  error(): SocketErrorT | undefined;
  sendJson(msg: unknown): void;
  stdin(text: string): void;
  see(what: RegExp): Promise<true>;
}

export function probe(api: ApiClient, route: RouteName, params: Record<string, string>): SocketProbe {
  return watch(api.websocket(route, params));
}

export function watch(ws: WebSocket): SocketProbe {
  const messages: ExecServerMessageT[] = [];
  const frames: Buffer[] = [];
  ws.on('message', (d: Buffer, binary: boolean) => {
    if (binary) frames.push(d.subarray(1));
    else messages.push(JSON.parse(d.toString()) as ExecServerMessageT);
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(new Error(`upgrade refused: ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
  opened.catch(() => undefined);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const output = () => Buffer.concat(frames).toString();
  return {
    ws,
    messages,
    output,
    opened,
    closed,
    error: () => {
      const last = messages.at(-1);
      return last?.type === 'error' ? last : undefined;
    },
    sendJson: (msg) => ws.send(JSON.stringify(msg)),
    stdin: (text) => ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(text)])),
    see: (what) => until(`${what} in the output`, async () => (what.test(output()) ? true : undefined)),
  };
}
