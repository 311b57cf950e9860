import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { commandsFor } from './command-table.js';
import { DEFAULT_URL } from './context.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Parses a command line (bin/bothub's arguments) and runs its command, with only the command modules it needs loaded. */
export async function run(args: string[]): Promise<void> {
  const program = new Command('bothub')
    .description('stateful sandboxes for AI agents')
    .option('--url <url>', `daemon URL (env BOTHUB_URL, default ${DEFAULT_URL})`)
    .option('--token <key>', 'API key (env BOTHUB_TOKEN)')
    .option('--json', 'print machine-readable JSON')
    // Usage errors are one line, like every other error.
    .version(version)
    // Set before the commands are added, so every subcommand inherits it: usage errors exit 2.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .configureOutput({ outputError: (text, write) => write(`bothub: ${text.trim().replace(/^error: /, '')} (see bothub --help)\n`) });
  for (const { register } of await Promise.all(commandsFor(args).map((c) => c.load()))) register(program);
  await program.parseAsync(args, { from: 'user' });
}
