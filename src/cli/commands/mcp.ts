import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiClient } from '../../api/index.js';
import { cliContext, resolveToken, type GlobalOptions } from '../context.js';
import { reportError } from '../runner.js';

export function register(program: Command): void {
  program
    .command('mcp')
    .description('serve the MCP tools on stdin/stdout against the daemon this CLI is configured for (for desktop MCP clients)')
    .action(async (_opts: unknown, cmd: Command) => {
      try {
        const { url } = await cliContext(cmd);
        const token = resolveToken(cmd.optsWithGlobals<GlobalOptions>(), url);
        // Loaded only here: other commands do not pay for the MCP SDK.
        const { serveMcpStdio } = await import('../../mcp/stdio.js');
        const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
        // A client per tool call, so a cancelled call aborts its request to the daemon.
        await serveMcpStdio((signal) => new ApiClient(url, { token, signal }), version);
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
