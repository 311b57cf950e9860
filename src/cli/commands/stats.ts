import type { Command } from 'commander';
import type WebSocket from 'ws';
import { errorFrom, type SandboxStatsT, type SocketErrorT } from '../../api/index.js';
import { BothubError, ERROR_CODES } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { bytes } from '../output/format.js';
import { action } from '../runner.js';

/** Without --follow, samples come this often until one has a CPU figure (the first has no interval to measure over). */
const ONE_SHOT_INTERVAL_MS = 500;

function line(s: SandboxStatsT): string {
  const cpu = s.cpuPercent === null ? '-' : `${s.cpuPercent.toFixed(1)}%`;
  const mem = `${bytes(s.memoryBytes)} / ${s.memoryLimitBytes === null ? 'no limit' : bytes(s.memoryLimitBytes)}`;
  const state = s.status === 'running' && s.thermal === 'hot' ? '' : `   (${s.status}, ${s.thermal})`;
  return `CPU ${cpu.padStart(6)}   MEM ${mem}   PIDS ${s.pids}${state}\n`;
}

/** Reads samples from the stats socket; `take` says whether to go on after each. */
function readSamples(ctx: CliContext, ws: WebSocket, take: (s: SandboxStatsT) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => void errorFrom(new Response(Buffer.concat(chunks), { status: res.statusCode })).then(reject));
    });
    ws.on('error', (e) =>
      reject(new BothubError('UNAVAILABLE', `cannot reach the bothub daemon at ${ctx.url} (${(e as NodeJS.ErrnoException).code ?? e.message}); start it with \`bothub serve\``)),
    );
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as SandboxStatsT | SocketErrorT;
      if ('type' in msg) return reject(new BothubError(msg.code in ERROR_CODES ? msg.code : 'INTERNAL', msg.message));
      if (!take(msg)) ws.close();
    });
    ws.on('close', () => resolve());
  });
}

export function register(program: Command): void {
  program
    .command('stats')
    .description("a sandbox's CPU, memory and process count, from its cgroup (zeros while it has no processes)")
    .argument('<name>')
    .option('-f, --follow', 'print a line per sample until interrupted')
    .option('--interval <ms>', 'milliseconds between samples with --follow (at least 250)', '1000')
    .action(
      action(async (ctx, name: string, opts: { follow?: boolean; interval: string }) => {
        const interval = Number(opts.interval);
        if (!Number.isInteger(interval) || interval < 250) throw new BothubError('INVALID_INPUT', `invalid --interval "${opts.interval}": give milliseconds, 250 or more`);
        const print = (s: SandboxStatsT) => process.stdout.write(ctx.json ? JSON.stringify(s) + '\n' : line(s));
        const ws = ctx.api.websocket('sandboxStatsStream', { name }, { interval: opts.follow ? interval : ONE_SHOT_INTERVAL_MS });
        if (opts.follow) {
          process.once('SIGINT', () => ws.close());
          return readSamples(ctx, ws, (s) => (print(s), true));
        }
        let seen = 0;
        // One sample, the first with a CPU figure (a sandbox without processes never has one).
        return readSamples(ctx, ws, (s) => {
          const final = s.cpuPercent !== null || s.status !== 'running' || s.thermal === 'cold' || ++seen >= 3;
          if (final) print(s);
          return !final;
        });
      }),
    );
}
