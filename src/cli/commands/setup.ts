import type { Command } from 'commander';
import { configPath, writeConfig } from '../config-file.js';
import { cliClient } from '../context.js';
import { printJson } from '../output/format.js';
import { action } from '../runner.js';

export function register(program: Command): void {
  program
    .command('setup')
    .description('remember a daemon URL and API key for this user (~/.config/bothub/config.yaml, mode 0600)')
    .requiredOption('--url <url>', 'daemon URL, e.g. http://10.0.0.5:7070')
    .option('--token <key>', 'API key (from `bothub user create`)')
    .action(
      action(async (ctx, opts: { url: string; token?: string }) => {
        const token = opts.token ?? process.env.BOTHUB_TOKEN;
        // Check the key before saving it: a typo found now beats one found later.
        const api = await cliClient(opts.url, token);
        const me = await api.call('whoami');
        const sandboxes = await api.call('listSandboxes');
        writeConfig({ url: opts.url, token });
        if (ctx.json) return printJson({ url: opts.url, user: me.name, sandboxes: sandboxes.length, config: configPath() });
        process.stdout.write(`authenticated as ${me.name} (${sandboxes.length} sandboxes); saved to ${configPath()}\n`);
      }),
    );
}
