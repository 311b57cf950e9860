import { originValidation } from '@modelcontextprotocol/fastify';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler } from '@modelcontextprotocol/server';
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { ApiClient } from '../api/index.js';
import { bothubMcpServer } from './server.js';

export interface McpRouteOptions {
  version: string;
  /** A client of this daemon's own API holding the caller's key: every tool goes through the public API. */
  api: (token: string, signal: AbortSignal) => ApiClient;
  /** Origin host names a browser may call from (the daemon's own, and BOTHUB_MCP_ORIGINS); a request without Origin passes. */
  allowedOrigins: string[];
}

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];

/**
 * The Origin host names /mcp accepts: the daemon's own listen host (every
 * loopback name when it listens on loopback) and the configured ones, given
 * as host names or as origins (https://dash.example.com).
 */
export function mcpOriginHosts(listenHost: string, configured: string[]): string[] {
  const own = listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  const extra = configured.map((o) => (o.includes('://') ? new URL(o).hostname : o.toLowerCase()));
  return [...new Set([own, ...(LOOPBACK.includes(own) ? LOOPBACK : []), ...extra])];
}

const bearer = (h: string | undefined) => (h?.startsWith('Bearer ') ? h.slice(7).trim() : '');

/**
 * Streamable HTTP at /mcp, stateless: the SDK builds a fresh server per
 * request (no session id), for the key that request carries. The daemon's
 * auth hook has already answered 401 to a request without a valid key.
 */
export function registerMcpRoute(app: FastifyInstance, opts: McpRouteOptions): void {
  const handler = createMcpHandler(({ authInfo }) => bothubMcpServer((signal) => opts.api(authInfo?.token ?? '', signal), opts.version));
  const node = toNodeHandler(handler, { onerror: (err) => app.log.error({ err }, 'MCP request failed') });
  app.route({
    method: ['GET', 'POST', 'DELETE'],
    url: '/mcp',
    // Not an API route: kept out of the OpenAPI document (@fastify/swagger reads `hide`).
    schema: { hide: true } as FastifySchema,
    onRequest: originValidation(opts.allowedOrigins),
    handler: async (req, reply) => {
      reply.hijack();
      const auth = { token: bearer(req.headers.authorization), clientId: 'bothub-api-key', scopes: [] };
      await node(Object.assign(req.raw, { auth }), reply.raw, req.body);
    },
  });
  app.addHook('onClose', () => handler.close());
}
