import { finished } from 'node:stream/promises';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import type { ApiClient } from '../api/index.js';
import { bothubMcpServer } from './server.js';

/** The same server on stdin/stdout (`bothub mcp`), for a desktop client that launches it; resolves when stdin closes. */
export async function serveMcpStdio(api: ApiClient, version: string): Promise<void> {
  const handle = serveStdio(() => bothubMcpServer(api, version), { onerror: (err) => process.stderr.write(`bothub mcp: ${err.message}\n`) });
  await finished(process.stdin).catch(() => undefined);
  await handle.close();
}
