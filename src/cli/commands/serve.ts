import type { Command } from 'commander';
import { reportError } from '../runner.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the bothub daemon (REST API, runtime, image store)')
    .option('--listen <host:port>', 'address to listen on (env BOTHUB_LISTEN)', undefined)
    .option('--data-dir <dir>', 'state directory (env BOTHUB_DATA_DIR)', undefined)
    .action(async (opts: { listen?: string; dataDir?: string }) => {
      try {
        // Loaded only here: every other command is a thin API client and starts fast.
        const { daemonConfig } = await import('../../daemon/config.js');
        const { startDaemon } = await import('../../daemon/serve.js');
        const daemon = await startDaemon(daemonConfig(opts));
        // Stop serving on a signal; sandboxes keep running and are found again at the next start.
        const stop = () => void daemon.close().then(() => process.exit(0));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });

  program
    .command('agent')
    .description("run bothub's agent on a fleet host: the runtime, served on a Unix socket the control plane reaches over SSH")
    .option('--data-dir <dir>', 'state directory (env BOTHUB_DATA_DIR)', undefined)
    .action(async (opts: { dataDir?: string }) => {
      try {
        const path = await import('node:path');
        const fs = await import('node:fs/promises');
        const { daemonConfig } = await import('../../daemon/config.js');
        const { startDaemon } = await import('../../daemon/serve.js');
        const config = daemonConfig(opts);
        const pidFile = path.join(config.dataDir, 'agent.pid');
        // No TCP port, no heartbeats of its own: only the control plane talks to it, through SSH.
        // Its records are the runtime's own, on its own disk: never the control plane's database.
        const daemon = await startDaemon({ ...config, databaseUrl: undefined, socket: path.join(config.dataDir, 'agent.sock'), heartbeatMs: 0 });
        await fs.writeFile(pidFile, `${process.pid}\n`);
        const stop = () => void daemon.close().then(() => fs.rm(pidFile, { force: true }).then(() => process.exit(0)));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
