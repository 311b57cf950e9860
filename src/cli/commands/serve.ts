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
}
