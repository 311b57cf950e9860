// Runs s3rver on a free port and prints {"port": N} once listening, then one {"request": …} line per
// request it receives (method, path, the client's address: what tests count). SIGTERM stops it.
// A process of its own, started with --openssl-legacy-provider: s3rver seals its listing continuation
// tokens with DES, which OpenSSL 3 offers only from its legacy provider.
import type { IncomingMessage } from 'node:http';
import S3rver from 's3rver';

const [directory, bucket, address = '127.0.0.1'] = process.argv.slice(2);
const server = new S3rver({ address, port: 0, silent: true, directory: directory!, configureBuckets: [{ name: bucket! }] });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
server.httpServer?.on('request', (req: IncomingMessage) => {
  const request = { method: req.method, path: (req.url ?? '').split('?')[0], from: req.socket.remoteAddress?.replace(/^::ffff:/, '') };
  process.stdout.write(`${JSON.stringify({ request })}\n`);
});
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
