import type { Command } from 'commander';
// Not the core barrel: every command pays at start-up for what it loads.
import { BothubError } from '../../core/errors.js';
import { parseGpuRequest } from '../../core/gpus.js';
import { parseDuration, parseEnvPairs, parseSizeMb, validateDiskMb } from '../../core/limits.js';
import { NETWORK_MODES, type NetworkMode } from '../../core/vocabulary.js';
import type { SandboxT } from '../../api/index.js';
import { printJson } from '../output/format.js';
import { action, collect, exitCodeOf } from '../runner.js';
import { contextFrom, type CliContext } from '../context.js';
import { ensureDefaultImage } from './image/build.js';

interface CreateOptions {
  name?: string;
  image: string;
  cpus?: string;
  memory?: string;
  env: string[];
  network: string;
  secret: string[];
  idleWarm?: string;
  idleCold?: string;
  keepHot?: boolean;
  host?: string;
  gpus?: string;
  disk?: string;
}

/** --disk SIZE as megabytes, checked before anything is built or sent. */
export const diskOption = (text: string | undefined) => (text === undefined ? undefined : validateDiskMb(parseSizeMb(text, '--disk'), '--disk'));

export const DISK_HELP = "size limit of its writable layer, e.g. 512M or 2G (default: the daemon's BOTHUB_DISK); writes beyond it fail with ENOSPC";

function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new BothubError('INVALID_INPUT', `invalid ${flag} "${text}": give a number`);
  return n;
}

/** The defaults of create's options with one, for commander and for the parser-free path alike. */
const DEFAULTS = { image: 'debian', network: 'default' } as const;

export function register(program: Command): void {
  program
    .command('create')
    .description('create and start a sandbox; prints its name')
    .argument('[command...]', 'main process for init to run (after --); its output is the console log')
    .option('--name <name>', 'sandbox name (generated when absent)')
    .option('--image <image>', 'image to run', DEFAULTS.image)
    .option('--cpus <n>', 'CPU limit, e.g. 0.5 or 2')
    .option('--memory <mb>', 'memory limit in MB')
    .option('--disk <size>', DISK_HELP)
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect, [])
    .option('--network <mode>', 'default (own address, outbound NAT), peers (also reach your other peers sandboxes) or none (loopback only)', DEFAULTS.network)
    .option('--idle-warm <duration>', 'idle time before freezing in place, e.g. 30s, 5m (0 disables)')
    .option('--idle-cold <duration>', 'idle time before going to disk, e.g. 30m (0 disables)')
    .option('--keep-hot', 'never cool down')
    .option('--host <host>', 'fleet host to run it on (default: the scheduler picks one that fits)')
    .option('--gpus <gpus>', 'NVIDIA GPUs it holds: all, a count such as 2, or UUIDs (GPU-…) comma-separated')
    .option('--secret <NAME>', 'expose your secret NAME as an environment variable (repeatable)', collect, [])
    .action(action(createOne));
}

async function createOne(ctx: CliContext, command: string[], opts: CreateOptions): Promise<void> {
  if (!NETWORK_MODES.includes(opts.network as NetworkMode)) throw new BothubError('INVALID_INPUT', `invalid --network "${opts.network}": use ${NETWORK_MODES.join(', ')}`);
  if (opts.gpus !== undefined) parseGpuRequest(opts.gpus); // before any image is built
  const diskMb = diskOption(opts.disk);
  // A fleet host's agent builds its own default image.
  if (opts.image === 'debian' && (opts.host ?? 'local') === 'local') await ensureDefaultImage(ctx);
  const sandbox: SandboxT = await ctx.api.call('createSandbox', {
    body: {
      name: opts.name,
      image: opts.image,
      cpus: number('--cpus', opts.cpus),
      memoryMb: number('--memory', opts.memory),
      env: parseEnvPairs(opts.env),
      network: opts.network as NetworkMode,
      command: command.length ? command : undefined,
      secrets: opts.secret.length ? opts.secret : undefined,
      idleWarmMs: opts.idleWarm === undefined ? undefined : parseDuration(opts.idleWarm),
      idleColdMs: opts.idleCold === undefined ? undefined : parseDuration(opts.idleCold),
      keepHot: opts.keepHot,
      host: opts.host,
      gpus: opts.gpus,
      diskMb,
    },
  });
  if (ctx.json) printJson(sandbox);
  else process.stdout.write(`${sandbox.name}\n`);
}

/** `bothub create [--name NAME]`, from bin/bothub without the parser (see fast-paths.ts): commander's defaults, no command. */
export async function createWithoutParser(name: string | undefined): Promise<void> {
  process.exitCode = await exitCodeOf(async () => createOne(await contextFrom({ json: false }), [], { ...DEFAULTS, env: [], secret: [], name }));
}
