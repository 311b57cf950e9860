import type { Command } from 'commander';
import { ApiClient } from '../api/index.js';

export interface GlobalOptions {
  url: string;
  json: boolean;
  token?: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:7070';

/** What every command gets: the API client and how to print. */
export interface CliContext {
  api: ApiClient;
  json: boolean;
  url: string;
}

export function cliContext(cmd: Command): CliContext {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const url = opts.url ?? process.env.BOTHUB_URL ?? DEFAULT_URL;
  return { api: new ApiClient(url, { token: opts.token ?? process.env.BOTHUB_TOKEN }), json: !!opts.json, url };
}
