import type WebSocket from 'ws';

/** Relays frames both ways between a client and the far side (a sandbox's server, a host's agent); either closing closes both. */
export function relay(client: WebSocket, server: WebSocket): void {
  client.on('message', (d, b) => server.send(d, { binary: b }));
  server.on('message', (d, b) => client.send(d, { binary: b }));
  server.on('close', (code, reason) => client.close(code === 1005 || code === 1006 ? 1000 : code, reason));
  server.on('error', () => client.close(1011, 'the far side closed the connection'));
  client.on('close', () => server.close());
}
