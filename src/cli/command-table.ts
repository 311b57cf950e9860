import type { Command } from 'commander';

/** A line of the command table: the top-level commands (and aliases) a module registers, and how to load it. */
export interface CommandModule {
  names: string[];
  load: () => Promise<{ register: (program: Command) => void }>;
}

/**
 * Every command, in the order `bothub --help` lists them. A module is loaded
 * only when one of its commands runs (every one for help or a word no line
 * names), so a command pays at start-up only for what it imports itself.
 * A new command is one line here; cli-commands.test checks the names.
 */
export const COMMANDS: CommandModule[] = [
  { names: ['serve', 'agent'], load: () => import('./commands/serve.js') },
  { names: ['setup'], load: () => import('./commands/setup.js') },
  { names: ['create'], load: () => import('./commands/create.js') },
  { names: ['run'], load: () => import('./commands/run.js') },
  { names: ['list', 'ls'], load: () => import('./commands/list.js') },
  { names: ['inspect'], load: () => import('./commands/inspect.js') },
  { names: ['exec'], load: () => import('./commands/exec.js') },
  { names: ['ps', 'history', 'kill', 'attach', 'shell'], load: () => import('./commands/session/commands.js') },
  { names: ['logs'], load: () => import('./commands/logs.js') },
  { names: ['stats'], load: () => import('./commands/stats.js') },
  { names: ['cp'], load: () => import('./commands/cp.js') },
  { names: ['stop', 'start', 'destroy', 'rm'], load: () => import('./commands/lifecycle.js') },
  { names: ['move', 'place'], load: () => import('./commands/move.js') },
  { names: ['pause', 'resume', 'freeze', 'events', 'publish', 'share', 'unpublish', 'unshare'], load: () => import('./commands/thermal/commands.js') },
  { names: ['doctor'], load: () => import('./commands/doctor.js') },
  { names: ['user'], load: () => import('./commands/user/commands.js') },
  { names: ['secret'], load: () => import('./commands/secret/commands.js') },
  { names: ['host'], load: () => import('./commands/host/commands.js') },
  { names: ['provider', 'offers', 'cost'], load: () => import('./commands/rent/commands.js') },
  { names: ['image'], load: () => import('./commands/image/commands.js') },
  { names: ['snapshot'], load: () => import('./commands/snapshot/commands.js') },
  { names: ['registry'], load: () => import('./commands/registry/commands.js') },
  { names: ['mcp'], load: () => import('./commands/mcp.js') },
];

/** The global options that take a value: the command word comes after it. */
const VALUED = ['--url', '--token'];

/**
 * The modules a command line needs: the one its command word names, found
 * past the global options; every module when there is no such word (help,
 * a typo commander should answer with its suggestions, an option it rejects).
 */
export function commandsFor(args: string[], table = COMMANDS): CommandModule[] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUED.includes(arg)) i++;
    else if (arg === '--json' || VALUED.some((o) => arg.startsWith(`${o}=`))) continue;
    else if (arg.startsWith('-')) return table;
    else {
      const line = table.find((c) => c.names.includes(arg));
      return line ? [line] : table;
    }
  }
  return table;
}
