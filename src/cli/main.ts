import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { register as create } from './commands/create.js';
import { register as exec } from './commands/exec.js';
import { register as imageBuild } from './commands/image/build.js';
import { register as imageImport } from './commands/image/import.js';
import { register as imageList } from './commands/image/list.js';
import { register as imageTransfer } from './commands/image/transfer.js';
import { register as registries } from './commands/registry/commands.js';
import { register as inspect } from './commands/inspect.js';
import { register as lifecycle } from './commands/lifecycle.js';
import { register as list } from './commands/list.js';
import { register as logs } from './commands/logs.js';
import { register as hosts } from './commands/host/commands.js';
import { register as sessions } from './commands/session/commands.js';
import { register as cp } from './commands/cp.js';
import { register as run } from './commands/run.js';
import { register as serve } from './commands/serve.js';
import { register as move } from './commands/move.js';
import { register as doctor } from './commands/doctor.js';
import { register as setup } from './commands/setup.js';
import { register as users } from './commands/user/commands.js';
import { register as secrets } from './commands/secret/commands.js';
import { register as thermal } from './commands/thermal/commands.js';
import { register as snapshotCreate } from './commands/snapshot/create.js';
import { register as snapshotManage } from './commands/snapshot/manage.js';
import { register as snapshotRestore } from './commands/snapshot/restore.js';
import { DEFAULT_URL } from './context.js';

const program = new Command('bothub')
  .description('stateful sandboxes for AI agents')
  .option('--url <url>', `daemon URL (env BOTHUB_URL, default ${DEFAULT_URL})`)
  .option('--token <key>', 'API key (env BOTHUB_TOKEN)')
  .option('--json', 'print machine-readable JSON')
  // Usage errors are one line, like every other error.
  .version(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string)
  // Set before the commands are added, so every subcommand inherits it: usage errors exit 2.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .configureOutput({ outputError: (text, write) => write(`bothub: ${text.trim().replace(/^error: /, '')} (see bothub --help)\n`) });

for (const register of [serve, setup, create, run, list, inspect, exec, sessions, logs, cp, lifecycle, move, thermal, doctor, users, secrets, hosts, registries]) register(program);
const image = program.command('image').description('manage images');
for (const register of [imageList, imageBuild, imageImport, imageTransfer]) register(image);
const snapshot = program.command('snapshot').description('checkpoint, resume and branch sandboxes');
for (const register of [snapshotCreate, snapshotManage, snapshotRestore]) register(snapshot);

await program.parseAsync(process.argv);
