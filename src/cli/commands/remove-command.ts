import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { printJson } from '../output/format.js';
import { action } from '../runner.js';

/** `<parent> rm NAME`: one shape for removing anything by name; prints the name (or JSON). */
export function removeCommand(parent: Command, verb: string, description: string, remove: (ctx: CliContext, name: string) => Promise<unknown>, alias?: string): void {
  const cmd = parent.command(verb).description(description).argument('<name>');
  if (alias) cmd.alias(alias);
  cmd.action(
    action(async (ctx, name: string) => {
      await remove(ctx, name);
      if (ctx.json) printJson({ name, removed: true });
      else process.stdout.write(`${name}\n`);
    }),
  );
}
