import { Compile } from 'typebox/compile';
import type { WebSocket } from 'ws';
import { Channel, ExecStart, type ExecControl, type ExecStartT } from '../../../api/index.js';
import { BothubError, parseSignal, type Actor } from '../../../core/index.js';
import type { ExecSession } from '../../../runtime/index.js';
import type { LiveTerminal } from '../../services/live-terminals.js';
import { actorOf } from '../auth.js';
import type { DaemonContext } from '../../context.js';
import { toErrorBody } from '../errors.js';
import type { Handlers } from '../register-routes.js';

const checkStart = Compile(ExecStart);

type ExecRoutes = 'exec' | 'execStream' | 'startExec' | 'listExecs' | 'getExec' | 'killExec' | 'attachExec';

export function execHandlers(ctx: DaemonContext): Pick<Handlers, ExecRoutes> {
  return {
    exec: ({ actor, params, body }) => ctx.exec.run(params.name, body, actor),
    startExec: ({ actor, params, body }) => ctx.exec.background(params.name, body, actor),
    listExecs: ({ actor, params }) => ctx.exec.list(params.name, actor),
    getExec: ({ actor, params }) => ctx.exec.record(params.name, params.id, actor),
    killExec: ({ actor, params, body }) => ctx.exec.kill(params.name, params.id, parseSignal(body.signal ?? 'TERM'), actor),
    attachExec: {
      precheck: async (req) => {
        const { name, id } = req.params as { name: string; id: string };
        const actor = actorOf(req);
        const rec = await ctx.exec.record(name, id, actor);
        const row = await ctx.sandboxes.row(name, actor);
        if (!rec.tty || rec.status !== 'running' || !ctx.exec.terminals.get(row.id, id))
          throw new BothubError(
            'INVALID_STATE',
            rec.status !== 'running'
              ? `command ${id} is not running (${rec.status}); read its output with \`bothub logs ${name} --exec ${id}\``
              : `command ${id} has no terminal to attach to; follow its output with \`bothub logs ${name} --exec ${id} -f\``,
          );
      },
      handle: (socket, req) => {
        const { name, id } = req.params as { name: string; id: string };
        void ctx.sandboxes
          .row(name, actorOf(req))
          .then((row) => {
            const terminal = ctx.exec.terminals.get(row.id, id);
            if (!terminal) throw new BothubError('INVALID_STATE', `command ${id} has ended; see \`bothub ps ${name}\``);
            socket.send(JSON.stringify({ type: 'started', id }));
            bindTerminal(socket, terminal.session, terminal);
            tagged(socket, Channel.Stdout, terminal.scrollback());
          })
          .catch((e) => fail(socket, e, req.id));
      },
    },
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

const tagged = (socket: WebSocket, tag: number, b: Buffer) => socket.send(Buffer.concat([Buffer.from([tag]), b]));

/** Client messages to a running command: stdin frames, eof, resize, signal. */
function forwardInput(socket: WebSocket, session: ExecSession): (data: Buffer, isBinary: boolean) => void {
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
  socket.on('message', onMessage);
  return onMessage;
}

/** A client of an interactive command: when it goes, the command stays, for the next `attach`. */
function bindTerminal(socket: WebSocket, session: ExecSession, terminal: LiveTerminal): (data: Buffer, isBinary: boolean) => void {
  const detach = terminal.attach({
    output: (b) => tagged(socket, Channel.Stdout, b),
    exit: (exit) => {
      const killed = exit.exitCode < 0;
      socket.send(JSON.stringify({ type: 'exit', exitCode: killed ? 128 + exit.signal : exit.exitCode, signal: killed ? exit.signal : null, oomKilled: false }));
      socket.close(1000);
    },
  });
  socket.on('close', detach);
  return forwardInput(socket, session);
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
  const { session, oomBefore, sandboxId, execId } = started;
  socket.send(JSON.stringify({ type: 'started', id: execId }));
  const terminal = ctx.exec.terminals.get(sandboxId, execId);
  let onMessage: (data: Buffer, isBinary: boolean) => void;
  let finished = false;
  if (terminal) {
    // Interactive: exit reaches every attached client through the terminal.
    onMessage = bindTerminal(socket, session, terminal);
    for (const [data, isBinary] of takeEarly()) onMessage(data, isBinary);
    return;
  }
  session.on('stdout', (b) => tagged(socket, Channel.Stdout, b));
  session.on('stderr', (b) => tagged(socket, Channel.Stderr, b));
  onMessage = forwardInput(socket, session);
  for (const [data, isBinary] of takeEarly()) onMessage(data, isBinary);
  // The client of a plain command went away: hang up on the command, as a closed pipe would.
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
