import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';

export interface CliConfig {
  url?: string;
  token?: string;
}

export const configPath = (env: NodeJS.ProcessEnv = process.env) => join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'bothub', 'config.yaml');

export function readConfig(file = configPath()): CliConfig {
  if (!existsSync(file)) return {};
  return (parse(readFileSync(file, 'utf8')) as CliConfig | null) ?? {};
}

/** Written 0600: it holds an API key. */
export function writeConfig(config: CliConfig, file = configPath()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, stringify(config), { mode: 0o600 });
}
