import { Channel, type ExecControlT, type ExecStartT } from '../../../api/index.js';
import { BothubError, parseSignal, type Actor } from '../../../core/index.js';
import type { ExecExit, ExecSession } from '../../../runtime/index.js';
import type { LiveTerminal } from '../../services/live-terminals.js';
import type { DaemonContext } from '../../context.js';
import type { Handlers } from '../register-routes.js';
import type { SocketListeners, SocketSession } from '../socket-route.js';

type ExecRoutes = 'exec' | 'execStream' | 'startExec' | 'listExecs' | 'getExec' | 'killExec' | 'attachExec';
/** Both exec sockets speak the same messages (ExecSocket, AttachSocket). */
type ExecSocket = SocketSession<'execStream' | 'attachExec'>;

export function execHandlers(ctx: DaemonContext): Pick<Handlers, ExecRoutes> {
  return {
    exec: ({ actor, params, body, raw }) => ctx.exec.run(params.name, body, actor, raw.localSandbox),
    startExec: ({ actor, params, body }) => ctx.exec.background(params.name, body, actor),
    listExecs: ({ actor, params }) => ctx.exec.list(params.name, actor),
    getExec: ({ actor, params }) => ctx.exec.record(params.name, params.id, actor),
    killExec: ({ actor, params, body }) => ctx.exec.kill(params.name, params.id, parseSignal(body.signal ?? 'TERM'), actor),
    attachExec: {
      precheck: async ({ actor, params: { name, id } }) => {
        const rec = await ctx.exec.record(name, id, actor);
        const row = await ctx.sandboxes.row(name, actor);
        if (!rec.tty || rec.status !== 'running' || !ctx.exec.terminals.get(row.id, id))
          throw new BothubError(
            'INVALID_STATE',
            rec.status !== 'running'
              ? `command ${id} is not running (${rec.status}); read its output (\`GET /api/v1/sandboxes/${name}/execs/${id}/logs\`)`
              : `command ${id} has no terminal to attach to; follow its output (\`GET /api/v1/sandboxes/${name}/execs/${id}/logs?follow=true\`)`,
          );
      },
      open: async (socket, { actor, params: { name, id } }) => {
        const row = await ctx.sandboxes.row(name, actor);
        const terminal = ctx.exec.terminals.get(row.id, id);
        if (!terminal) throw new BothubError('INVALID_STATE', `command ${id} has ended; see \`GET /api/v1/sandboxes/${name}/execs\``);
        socket.send({ type: 'started', id });
        bindTerminal(socket, terminal);
        socket.frame(Channel.Stdout, terminal.scrollback());
        return inputTo(terminal.session);
      },
    },
    execStream: {
      precheck: async ({ actor, params }) => {
        await ctx.sandboxes.require(params.name, 'exec', actor);
      },
      open: (socket, { actor, params }) => {
        // Stdin and controls that follow the start at once wait (in the socket's queue) until the command runs.
        let input: ExecInput | undefined;
        return {
          start: async (start) => {
            input = inputTo(await runCommand(ctx, socket, params.name, start, actor));
          },
          message: (msg) => input?.message(msg),
          frame: (channel, data) => input?.frame(channel, data),
        };
      },
    },
  };
}

type ExecInput = Required<Pick<SocketListeners<'attachExec'>, 'message' | 'frame'>>;

/** Client messages to a running command: stdin frames, eof, resize, signal. */
function inputTo(session: ExecSession): ExecInput {
  return {
    frame: (_channel, data) => session.write(data),
    message: (msg: ExecControlT) => {
      if (msg.type === 'eof') session.closeStdin();
      else if (msg.type === 'resize') session.resize(msg.rows, msg.cols);
      else session.signal(msg.signal);
    },
  };
}

const exitMessage = (exit: ExecExit, oomKilled: boolean) => {
  const killed = exit.exitCode < 0;
  return { type: 'exit', exitCode: killed ? 128 + exit.signal : exit.exitCode, signal: killed ? exit.signal : null, oomKilled } as const;
};

/** A client of an interactive command: when it goes, the command stays, for the next `attach`. */
function bindTerminal(socket: ExecSocket, terminal: LiveTerminal): void {
  const detach = terminal.attach({
    output: (b) => socket.frame(Channel.Stdout, b),
    exit: (exit) => {
      socket.send(exitMessage(exit, false));
      socket.close();
    },
  });
  socket.onClose(detach);
}

/** Starts the command and wires its output to the socket; its exit (or failure) ends the socket later. */
async function runCommand(ctx: DaemonContext, socket: ExecSocket, name: string, start: ExecStartT, actor: Actor): Promise<ExecSession> {
  const { session, oomBefore, sandboxId, execId } = await ctx.exec.start(name, start, actor);
  socket.send({ type: 'started', id: execId });
  const terminal = ctx.exec.terminals.get(sandboxId, execId);
  if (terminal) {
    // Interactive: exit reaches every attached client through the terminal.
    bindTerminal(socket, terminal);
    return session;
  }
  let finished = false;
  session.on('stdout', (b) => socket.frame(Channel.Stdout, b));
  session.on('stderr', (b) => socket.frame(Channel.Stderr, b));
  // The client of a plain command went away: hang up on the command, as a closed pipe would.
  socket.onClose(() => {
    if (!finished) session.disconnect();
  });
  session.done
    .then(async (exit) => {
      finished = true;
      socket.send(exitMessage(exit, await ctx.exec.oomKilledSince(sandboxId, oomBefore)));
      socket.close();
    })
    .catch((e: unknown) => {
      finished = true;
      socket.fail(e);
    });
  return session;
}
