// Runs s3rver on a free loopback port and prints {"port": N} once listening; SIGTERM stops it.
// A process of its own, started with --openssl-legacy-provider: s3rver seals its listing continuation
// tokens with DES, which OpenSSL 3 offers only from its legacy provider.
import S3rver from 's3rver';

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: directory!, configureBuckets: [{ name: bucket! }] });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
