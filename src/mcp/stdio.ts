import { finished } from 'node:stream/promises';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { bothubMcpServer } from './server.js';
import type { ApiFor } from './tool-kit.js';

/** The same server on stdin/stdout (`bothub mcp`), for a desktop client that launches it; resolves when stdin closes. */
export async function serveMcpStdio(apiFor: ApiFor, version: string): Promise<void> {
  const handle = serveStdio(() => bothubMcpServer(apiFor, version), { onerror: (err) => process.stderr.write(`bothub mcp: ${err.message}\n`) });
  await finished(process.stdin).catch(() => undefined);
  await handle.close();
}
