import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** An S3-compatible server (s3rver: S3's REST protocol, key ids checked) on a free loopback port, its objects in a temporary directory. */
export interface TestS3 {
  /** AWS_ENDPOINT_URL for it. */
  endpoint: string;
  bucket: string;
  /** The environment a client needs: endpoint, region and s3rver's built-in credentials. */
  env: Record<string, string>;
  /** Every request it received so far, in order: method, path (/bucket/key) and the client's address. */
  requests: S3Request[];
  stop(): Promise<void>;
}

export interface S3Request {
  method: string;
  path: string;
  from: string;
}

/** `address`: where it listens (a fleet test's host reaches it on the host side of its veth pair). */
export async function startS3(bucket = 'bothub-test', address = '127.0.0.1'): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 'bothub-s3-'));
  const script = fileURLToPath(new URL('./s3rver-process.js', import.meta.url));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', script, directory, bucket, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(directory, { recursive: true, force: true });
  };
  try {
    const lines = createInterface({ input: child.stdout });
    const [line] = (await Promise.race([once(lines, 'line'), exited.then(() => [undefined])])) as [string | undefined];
    if (!line) throw new Error('s3rver exited before it listened');
    const { port } = JSON.parse(line) as { port: number };
    const requests: S3Request[] = [];
    lines.on('line', (l) => {
      const { request } = JSON.parse(l) as { request?: S3Request };
      if (request) requests.push(request);
    });
    const endpoint = `http://${address}:${port}`;
    return {
      endpoint,
      bucket,
      requests,
      env: { AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
