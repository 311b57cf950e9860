import { createConnection, createServer, type Socket } from 'node:net';

/**
 * A TCP relay in front of the daemon whose connections a test can cut, as a
 * network drop would: the browser talks to the daemon through it, and `drop`
 * destroys every connection open at that moment (HTTP streams and WebSockets).
 * The Host header is the relay's, which the daemon's same-origin check accepts.
 */
export interface DropProxy {
  url: string;
  /** Cuts every open connection; returns how many were open. */
  drop(): number;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

export async function startDropProxy(target: string): Promise<DropProxy> {
  const { hostname, port } = new URL(target);
  const open = new Set<[Socket, Socket]>();
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const upstream = createConnection({ host: hostname, port: Number(port) });
    const pair: [Socket, Socket] = [client, upstream];
    open.add(pair);
    const end = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, hostname, resolve));
  const address = server.address();
  const local = typeof address === 'object' && address ? address.port : 0;
  const drop = () => {
    const n = open.size;
    for (const [a, b] of [...open]) {
      a.destroy();
      b.destroy();
    }
    open.clear();
    return n;
  };
  return {
    url: `http://${hostname}:${local}`,
    drop,
    accepted: () => accepted,
    close() {
      drop();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
