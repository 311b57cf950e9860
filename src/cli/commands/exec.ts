import type { Command } from 'commander';
import { constants } from 'node:os';
import { parseEnvPairs } from '../../core/index.js';
import { errorFrom } from '../../api/index.js';
import { BothubError, type ErrorCode } from '../../core/index.js';
import { printJson } from '../output/format.js';
import { action, collect } from '../runner.js';
import type { CliContext } from '../context.js';

interface ExecOptions {
  workdir?: string;
  env: string[];
  interactive?: boolean;
  tty?: boolean;
}

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;

/**
 * Runs a command over the exec WebSocket: output streams live and stays
 * split, stdin is forwarded, Ctrl-C reaches the command, and the exit code
 * becomes ours.
 */
async function execStream(ctx: CliContext, name: string, command: string[], opts: ExecOptions): Promise<number> {
  const tty = !!opts.tty && process.stdin.isTTY && process.stdout.isTTY;
  const forwardStdin = opts.interactive || !process.stdin.isTTY;
  const ws = ctx.api.websocket('execStream', { name });
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      if (tty) process.stdin.setRawMode(false);
      process.stdin.pause();
      fn();
    };
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => void errorFrom(new Response(Buffer.concat(chunks), { status: res.statusCode })).then((e) => finish(() => reject(e))));
    });
    ws.on('error', (e) =>
      finish(() =>
        reject(new BothubError('UNAVAILABLE', `cannot reach the bothub daemon at ${ctx.url} (${(e as NodeJS.ErrnoException).code ?? e.message}); start it with \`bothub serve\``)),
      ),
    );
    ws.on('open', () => {
      ws.send(
        JSON.stringify({ command, workdir: opts.workdir, env: parseEnvPairs(opts.env), ...(tty ? { tty: { rows: process.stdout.rows, cols: process.stdout.columns } } : {}) }),
      );
      if (tty) {
        process.stdin.setRawMode(true);
        process.stdout.on('resize', () => ws.send(JSON.stringify({ type: 'resize', rows: process.stdout.rows, cols: process.stdout.columns })));
      }
      if (forwardStdin) {
        process.stdin.on('data', (b: Buffer) => ws.send(Buffer.concat([Buffer.from([STDIN]), b])));
        process.stdin.on('end', () => ws.send(JSON.stringify({ type: 'eof' })));
      } else {
        ws.send(JSON.stringify({ type: 'eof' }));
      }
      if (!tty) {
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
          process.on(sig, () => ws.send(JSON.stringify({ type: 'signal', signal: constants.signals[sig] })));
        }
      }
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        (data[0] === STDERR ? process.stderr : process.stdout).write(data.subarray(1));
        return;
      }
      const msg = JSON.parse(data.toString()) as { type: string; exitCode?: number; oomKilled?: boolean; code?: ErrorCode; message?: string };
      if (msg.type === 'exit') {
        if (msg.oomKilled) process.stderr.write('bothub: the command was killed for exceeding the sandbox memory limit (--memory)\n');
        finish(() => resolve(msg.exitCode ?? 1));
      } else if (msg.type === 'error') {
        finish(() => reject(new BothubError(msg.code ?? 'INTERNAL', msg.message ?? 'exec failed')));
      }
    });
    ws.on('close', () => finish(() => reject(new BothubError('UNAVAILABLE', 'the daemon closed the connection before the command finished'))));
  });
}

export function register(program: Command): void {
  program
    .command('exec')
    .description('run a command in a sandbox; exits with its exit code')
    .argument('<name>')
    .argument('<command...>', 'command and arguments (after --)')
    .option('-w, --workdir <dir>', 'working directory inside the sandbox')
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect, [])
    .option('-i, --interactive', 'forward stdin even when it is a terminal')
    .option('-t, --tty', 'run the command on a terminal')
    .action(
      action(async (ctx, name: string, command: string[], opts: ExecOptions) => {
        if (ctx.json) {
          const stdin = process.stdin.isTTY ? undefined : await readAll(process.stdin);
          const result = await ctx.api.call('exec', { params: { name }, body: { command, workdir: opts.workdir, env: parseEnvPairs(opts.env), stdin } });
          printJson(result);
          return result.exitCode;
        }
        return execStream(ctx, name, command, opts);
      }),
    );
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
