import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { RouteClient } from '../api/route-client.js';
import { fetchOver } from '../api/stream-transport.js';
import { parseDuration } from '../core/limits.js'; // not the barrel: every command pays for what it loads
import { readConfig } from './config-file.js';
import { routePaths } from './route-paths.js';

export interface GlobalOptions {
  url?: string;
  json: boolean;
  token?: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:7070';
const DEFAULT_DATA_DIR = '/var/lib/bothub';

/** What every command gets: the API client and how to print. */
export interface CliContext {
  api: RouteClient;
  json: boolean;
  url: string;
  /** The API key the client sends (for a connection the client does not make itself: exec's plain WebSocket). */
  token?: string;
}

const isLocal = (url: string) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);

/**
 * The API key, in order: --token, BOTHUB_TOKEN, the config file written by
 * `bothub setup`, and, for a daemon on this host, its admin.key when readable.
 */
export function resolveToken(opts: GlobalOptions, url: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (opts.token) return opts.token;
  if (env.BOTHUB_TOKEN) return env.BOTHUB_TOKEN;
  const config = readConfig();
  if (config.token && (!config.url || config.url === url)) return config.token;
  if (!isLocal(url)) return undefined;
  try {
    return readFileSync(join(env.BOTHUB_DATA_DIR ?? DEFAULT_DATA_DIR, 'admin.key'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The CLI's client: the typed API client over the routes' paths alone (see
 * route-paths.ts). Over plain http, a call without an upload goes through
 * node:http (see fetchOver): a command is one process, and the global fetch
 * held it open ~300 ms past its last answer. Uploads keep the global fetch.
 */
export const cliClient = async (url: string, token: string | undefined, timeoutMs?: number) =>
  new RouteClient(url, { token, timeoutMs, ...(url.startsWith('http:') ? { fetch: plainHttpFetch() } : {}) }, await routePaths());

function plainHttpFetch(): typeof fetch {
  const overHttp = fetchOver();
  return (input, init) => (init?.body === undefined || typeof init.body === 'string' ? overHttp(input, init) : fetch(input, init));
}

export const cliContext = (cmd: Command): Promise<CliContext> => contextFrom(cmd.optsWithGlobals<GlobalOptions>());

/** The context for these global options (commander's, or none when `bothub exec` runs without commander). */
export async function contextFrom(opts: GlobalOptions): Promise<CliContext> {
  const url = opts.url ?? process.env.BOTHUB_URL ?? readConfig().url ?? DEFAULT_URL;
  // BOTHUB_TIMEOUT replaces the client's default limit (routes that checkpoint or build keep their longer ones).
  const timeoutMs = process.env.BOTHUB_TIMEOUT ? parseDuration(process.env.BOTHUB_TIMEOUT) : undefined;
  const token = resolveToken(opts, url);
  return { api: await cliClient(url, token, timeoutMs), json: !!opts.json, url, token };
}
