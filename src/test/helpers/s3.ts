import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** An S3-compatible server (s3rver: S3's REST protocol, signatures checked) on a free loopback port, its objects in a temporary directory. */
export interface TestS3 {
  /** AWS_ENDPOINT_URL for it. */
  endpoint: string;
  bucket: string;
  /** The environment a client needs: endpoint, region and s3rver's built-in credentials. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startS3(bucket = 'bothub-test'): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 'bothub-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    env: { AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
