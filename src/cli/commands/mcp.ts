import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { action } from '../runner.js';

export function register(program: Command): void {
  program
    .command('mcp')
    .description('serve the MCP tools on stdin/stdout against the daemon this CLI is configured for (for desktop MCP clients)')
    .action(
      action(async (ctx) => {
        // Loaded only here: other commands do not pay for the MCP SDK.
        const { serveMcpStdio } = await import('../../mcp/stdio.js');
        const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
        await serveMcpStdio(ctx.api, version);
      }),
    );
}
