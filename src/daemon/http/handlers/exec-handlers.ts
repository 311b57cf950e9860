import { Compile } from 'typebox/compile';
import type { WebSocket } from 'ws';
import { ExecStart, type ExecStartT } from '../../../api/index.js';
import { BothubError, type Actor } from '../../../core/index.js';
import { actorOf } from '../auth.js';
import type { DaemonContext } from '../../context.js';
import { toErrorBody } from '../errors.js';
import type { Handlers } from '../register-routes.js';

const checkStart = Compile(ExecStart);

/** Channel tags of binary WebSocket messages. */
export const Channel = { Stdin: 0, Stdout: 1, Stderr: 2 } as const;

export type ExecControl = { type: 'eof' } | { type: 'resize'; rows: number; cols: number } | { type: 'signal'; signal: number };

export function execHandlers(ctx: DaemonContext): Pick<Handlers, 'exec' | 'execStream'> {
  return {
    exec: ({ actor, params, body }) => ctx.exec.run(params.name, body, actor),
    execStream: {
      precheck: async (req) => {
        await ctx.sandboxes.require((req.params as { name: string }).name, 'exec', actorOf(req));
      },
      handle: (socket, req) => {
        const { name } = req.params as { name: string };
        // Stdin may follow the start message at once, before the command runs: queue it.
        const early: [Buffer, boolean][] = [];
        const queue = (data: Buffer, isBinary: boolean) => early.push([data, isBinary]);
        socket.once('message', (first) => {
          socket.on('message', queue);
          void runStream(ctx, socket, name, first.toString(), actorOf(req), req.id, () => {
            socket.off('message', queue);
            return early;
          });
        });
      },
    },
  };
}

function fail(socket: WebSocket, err: unknown, requestId: string): void {
  socket.send(JSON.stringify({ type: 'error', ...toErrorBody(err, requestId) }));
  socket.close(1011);
}

async function runStream(ctx: DaemonContext, socket: WebSocket, name: string, first: string, actor: Actor, requestId: string, takeEarly: () => [Buffer, boolean][]): Promise<void> {
  let start: ExecStartT;
  try {
    start = JSON.parse(first) as ExecStartT;
    if (!checkStart.Check(start)) {
      const e = [...checkStart.Errors(start)][0];
      throw new BothubError('INVALID_INPUT', `invalid exec start message: ${e?.instancePath || '/'} ${e?.message ?? ''}`.trim());
    }
  } catch (e) {
    fail(socket, e instanceof SyntaxError ? new BothubError('INVALID_INPUT', 'the first message must be a JSON ExecStart') : e, requestId);
    return;
  }
  let started;
  try {
    started = await ctx.exec.start(name, start, actor);
  } catch (e) {
    fail(socket, e, requestId);
    return;
  }
  const { session, oomBefore, sandboxId } = started;
  const tagged = (tag: number, b: Buffer) => socket.send(Buffer.concat([Buffer.from([tag]), b]));
  session.on('stdout', (b) => tagged(Channel.Stdout, b));
  session.on('stderr', (b) => tagged(Channel.Stderr, b));
  const onMessage = (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      if (data[0] === Channel.Stdin) session.write(data.subarray(1));
      return;
    }
    const msg = JSON.parse(data.toString()) as ExecControl;
    if (msg.type === 'eof') session.closeStdin();
    else if (msg.type === 'resize') session.resize(msg.rows, msg.cols);
    else if (msg.type === 'signal') session.signal(msg.signal);
  };
  for (const [data, isBinary] of takeEarly()) onMessage(data, isBinary);
  socket.on('message', onMessage);
  let finished = false;
  // The client went away: hang up on the command, as a closed terminal would.
  socket.on('close', () => {
    if (!finished) session.disconnect();
  });
  try {
    const exit = await session.done;
    finished = true;
    const killed = exit.exitCode < 0;
    const oomKilled = await ctx.exec.oomKilledSince(sandboxId, oomBefore);
    socket.send(JSON.stringify({ type: 'exit', exitCode: killed ? 128 + exit.signal : exit.exitCode, signal: killed ? exit.signal : null, oomKilled }));
    socket.close(1000);
  } catch (e) {
    finished = true;
    fail(socket, e, requestId);
  }
}
