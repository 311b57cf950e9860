import WebSocket from 'ws';

type Data = Parameters<WebSocket['send']>[0];

/** `ws.send` that does nothing on a socket no longer open, and never throws. */
export function sendIfOpen(ws: WebSocket, data: Data, binary: boolean): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary }, () => undefined);
}

/** `ws.close` that never throws: a code that may not be sent (1005, 1006: only ever received) becomes 1000. */
export function closeWith(ws: WebSocket, code: number, reason?: string | Buffer): void {
  if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
  const sendable = (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
  ws.close(sendable ? code : 1000, reason);
}

/**
 * Relays frames both ways between a client and the far side (a sandbox's
 * server, a host's agent); either closing closes both. `accept` sees each
 * client message first and may refuse it (it then ends the client's socket).
 */
export function relay(client: WebSocket, server: WebSocket, accept: (data: Buffer, isBinary: boolean) => boolean = () => true): void {
  client.on('message', (d: Buffer, b: boolean) => {
    if (accept(d, b)) sendIfOpen(server, d, b);
  });
  server.on('message', (d: Buffer, b: boolean) => sendIfOpen(client, d, b));
  server.on('close', (code, reason) => closeWith(client, code, reason));
  server.on('error', () => closeWith(client, 1011, 'the far side closed the connection'));
  // A client's protocol error (bad UTF-8, an oversized frame): ws closes the client; the far side follows on 'close'.
  client.on('error', () => undefined);
  client.on('close', () => closeWith(server, 1000));
}
