import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

// The YAML library is loaded only when there is a file to read or write: most commands start without it.
const yaml = () => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export interface CliConfig {
  url?: string;
  token?: string;
}

export const configPath = (env: NodeJS.ProcessEnv = process.env) => join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'bothub', 'config.yaml');

export function readConfig(file = configPath()): CliConfig {
  if (!existsSync(file)) return {};
  return (yaml().parse(readFileSync(file, 'utf8')) as CliConfig | null) ?? {};
}

/** Written 0600: it holds an API key. */
export function writeConfig(config: CliConfig, file = configPath()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, yaml().stringify(config), { mode: 0o600 });
}
