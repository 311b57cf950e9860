import type { Command } from 'commander';
import { constants } from 'node:os';
// Only what this command uses at run time: not the schemas (a command must start fast).
import { Channel } from '../../api/channels.js';
import type { ExecControlT, ExecServerMessageT } from '../../api/exec-socket.js';
import type { ExecStartT } from '../../api/schemas.js';
import { errorFrom } from '../../api/route-client.js';
// Not the core barrel: one command per process, and the barrel loads what exec never uses (node:crypto among it).
import { BothubError, ERROR_CODES } from '../../core/errors.js';
import { parseEnvPairs } from '../../core/limits.js';
import { printJson } from '../output/format.js';
import { progressPrinter } from '../output/progress.js';
import { action, collect, exitCodeOf } from '../runner.js';
import { contextFrom, type CliContext } from '../context.js';
import { PlainWebSocket, type CommandSocket } from '../plain-websocket.js';

interface ExecOptions {
  workdir?: string;
  env: string[];
  interactive?: boolean;
  tty?: boolean;
}

/**
 * Runs a command over the exec WebSocket: output streams live and stays
 * split, stdin is forwarded, Ctrl-C reaches the command, and the exit code
 * becomes ours.
 */
async function execStream(ctx: CliContext, name: string, command: string[], opts: ExecOptions): Promise<number> {
  const tty = !!opts.tty && process.stdin.isTTY && process.stdout.isTTY;
  // Plain HTTP (the usual daemon on this host): a WebSocket client without the `ws` library, for start-up's sake.
  const url = ctx.api.url('execStream', { name });
  const ws = url.startsWith('http:')
    ? new PlainWebSocket(url.replace(/^http/, 'ws'), ctx.token ? { authorization: `Bearer ${ctx.token}` } : {}, ctx.api.handshakeTimeoutMs)
    : ctx.api.websocket('execStream', { name });
  const start = { command, workdir: opts.workdir, env: parseEnvPairs(opts.env), ...(tty ? { tty: { rows: process.stdout.rows, cols: process.stdout.columns } } : {}) };
  return streamCommand(ctx, ws, { start, tty, forwardStdin: !!opts.interactive || !process.stdin.isTTY, label: name });
}

/**
 * Drives a command over a WebSocket (a new one, with `start`, or an attached
 * one): output to our stdout/stderr, our stdin and terminal size to it, and
 * its exit code back as ours.
 */
export function streamCommand(ctx: CliContext, ws: CommandSocket, opts: { start?: ExecStartT; tty: boolean; forwardStdin: boolean; label?: string }): Promise<number> {
  const { tty, forwardStdin } = opts;
  // After the close, a late resize or Ctrl-C has nowhere to go.
  const send = (msg: ExecStartT | ExecControlT | Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
  };
  const resize = (): ExecControlT => ({ type: 'resize', rows: process.stdout.rows, cols: process.stdout.columns });
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    let progress: ReturnType<typeof progressPrinter> | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      if (tty) process.stdin.setRawMode(false);
      process.stdin.pause();
      fn();
    };
    ws.on('unexpected-response', (_req: unknown, res: import('node:http').IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => void errorFrom(new Response(Buffer.concat(chunks), { status: res.statusCode })).then((e) => finish(() => reject(e))));
    });
    ws.on('error', (e: Error) =>
      finish(() =>
        reject(new BothubError('UNAVAILABLE', `cannot reach the bothub daemon at ${ctx.url} (${(e as NodeJS.ErrnoException).code ?? e.message}); start it with \`bothub serve\``)),
      ),
    );
    ws.on('open', () => {
      if (opts.start) send(opts.start);
      if (tty) {
        process.stdin.setRawMode(true);
        if (!opts.start) send(resize());
        process.stdout.on('resize', () => send(resize()));
      }
      if (forwardStdin) {
        process.stdin.on('data', (b: Buffer) => send(Buffer.concat([Buffer.from([Channel.Stdin]), b])));
        process.stdin.on('end', () => send({ type: 'eof' }));
      } else if (opts.start) {
        send({ type: 'eof' });
      }
      if (!tty) {
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
          process.on(sig, () => send({ type: 'signal', signal: constants.signals[sig] }));
        }
      }
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        (data[0] === Channel.Stderr ? process.stderr : process.stdout).write(data.subarray(1));
        return;
      }
      let msg: ExecServerMessageT;
      try {
        // The daemon validates what it sends against the same schema (ExecServerMessage).
        msg = JSON.parse(data.toString()) as ExecServerMessageT;
      } catch {
        return finish(() => reject(new BothubError('INTERNAL', 'the daemon sent a message that is not JSON; is --url a bothub daemon?')));
      }
      if (msg.type === 'progress') {
        // A parked sandbox is being placed and thawed first (minutes): say what happens, on stderr.
        (progress ??= progressPrinter(opts.label ?? 'bothub')).update(msg);
        return;
      }
      if (progress && msg.type !== 'error') {
        progress.done(`${opts.label ?? 'bothub'}: placed`);
        progress = undefined;
      }
      if (msg.type === 'exit') {
        if (msg.oomKilled) process.stderr.write('bothub: the command was killed for exceeding the sandbox memory limit (--memory)\n');
        finish(() => resolve(msg.exitCode));
      } else if (msg.type === 'error') {
        const code = msg.code in ERROR_CODES ? (msg.code) : 'INTERNAL';
        finish(() => reject(new BothubError(code, msg.message)));
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
    .option('-d, --detach', 'run it in the background and print its id (see `bothub ps`, `logs --exec`, `kill`)')
    .action(
      action(async (ctx, name: string, command: string[], opts: ExecOptions & { detach?: boolean }) => {
        if (opts.detach) {
          const rec = await ctx.api.call('startExec', { params: { name }, body: { command, workdir: opts.workdir, env: parseEnvPairs(opts.env) } });
          if (ctx.json) printJson(rec);
          else process.stdout.write(`${rec.id}\n`);
          return rec.status === 'running' || rec.exitCode === 0 ? 0 : (rec.exitCode ?? 1);
        }
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

/**
 * `bothub exec NAME -- COMMAND...` with no options, as bin/bothub recognises
 * it: the same command without loading commander or any other command's
 * modules, for the command agents run most, one process per call.
 */
export async function execWithoutParser(name: string, command: string[]): Promise<void> {
  process.exitCode = await exitCodeOf(async () => execStream(await contextFrom({ json: false }), name, command, { env: [] }));
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
