import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { HostT } from '../../../api/index.js';
import { BothubError } from '../../../core/index.js';
import { bytes, printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';
import { registerHostRent } from '../rent/host-rent.js';

/** The key ssh itself would try first. */
function defaultKey(): string {
  const found = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f)).find((f) => existsSync(f));
  if (!found) throw new BothubError('INVALID_INPUT', 'no SSH key in ~/.ssh; give one with --key FILE');
  return found;
}

const gpus = (h: HostT) => {
  const d = h.fingerprint.gpu?.devices ?? [];
  return d.length ? `${d.length}× ${d[0]!.name}` : '-';
};

export function register(program: Command): void {
  const host = program.command('host').description('the fleet: machines sandboxes can run on, reached over SSH');
  host
    .command('add')
    .description('add a host: pins its SSH host key, checks it can run and checkpoint sandboxes, records its fingerprint')
    .argument('<name>')
    .requiredOption('--ssh <user@address[:port]>', 'how to reach it')
    .option('--key <file>', 'SSH private key (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa); stored encrypted')
    .option('--dir <dir>', "the agent's data directory there", '/var/lib/bothub')
    .action(
      action(async (ctx, name: string, opts: { ssh: string; key?: string; dir: string }) => {
        const file = opts.key ?? defaultKey();
        let privateKey: string;
        try {
          privateKey = readFileSync(file, 'utf8');
        } catch (e) {
          throw new BothubError('INVALID_INPUT', `cannot read the key file ${file} (${(e as NodeJS.ErrnoException).code}); give a readable --key FILE`);
        }
        const h = await ctx.api.call('addHost', { body: { name, ssh: opts.ssh, privateKey, dataDir: opts.dir } });
        if (ctx.json) return printJson(h);
        process.stdout.write(`${h.name}  ${h.ssh}  host key ${h.hostKey}\n`);
      }),
    );
  host
    .command('list')
    .description('NAME STATUS SANDBOXES CPU MEM GPUS')
    .action(
      action(async (ctx) => {
        const hosts = await ctx.api.call('listHosts');
        if (ctx.json) return printJson(hosts);
        process.stdout.write(
          table(
            ['NAME', 'STATUS', 'SANDBOXES', 'CPU', 'MEM', 'GPUS'],
            hosts.map((h) => [
              h.name,
              h.status,
              String(h.sandboxes),
              String(h.fingerprint.cpus ?? '-'),
              h.fingerprint.memoryBytes ? bytes(h.fingerprint.memoryBytes) : '-',
              gpus(h),
            ]),
          ),
        );
      }),
    );
  host
    .command('inspect')
    .description('a host and its fingerprint, as JSON')
    .argument('<name>')
    .action(action(async (ctx, name: string) => printJson(await ctx.api.call('getHost', { params: { name } }))));
  host
    .command('check')
    .description('reconnect (the pinned host key must match) and refresh the fingerprint')
    .argument('<name>')
    .action(
      action(async (ctx, name: string) => {
        const h = await ctx.api.call('checkHost', { params: { name } });
        if (ctx.json) return printJson(h);
        process.stdout.write(`${h.name}  ${h.status}  kernel ${h.fingerprint.kernel}  criu ${h.fingerprint.criuVersion}  runc ${h.fingerprint.runcVersion}\n`);
      }),
    );
  registerHostRent(host);
  host
    .command('rm')
    .description('forget a host (refused while it has sandboxes)')
    .argument('<name>')
    .action(
      action(async (ctx, name: string) => {
        await ctx.api.call('removeHost', { params: { name } });
      }),
    );
}
