// GENERATED from src/api/routes/exec.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type } from 'typebox';
import * as S from '../schemas.js';
import { AttachSocket, ExecSocket } from '../exec-socket.js';
import { type RouteDef } from './route-def.js';

/** Commands in a sandbox: to completion, streamed, in the background (the exec ledger), and the console log. */
export const execRoutes = {
  exec: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/exec',
    summary: 'Run a command to completion and return its output.',
    params: S.NameParams,
    body: S.ExecRequest,
    reply: S.ExecResult,
    // A command runs as long as it runs: its own timeoutMs bounds it, and the caller's signal still cancels.
    timeoutMs: 0,
  },
  execStream: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/exec/ws',
    summary:
      'WebSocket: first message an ExecStart (JSON); then binary frames tagged 0 stdin / 1 stdout / 2 stderr, and JSON control messages (eof, resize, signal; started, exit, error). Messages are in x-websocket; one that does not fit gets an `error` message and close 1008.',
    params: S.NameParams,
    stream: 'websocket',
    socket: ExecSocket,
  },
  logs: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/logs',
    summary:
      'Console output from a byte offset (application/octet-stream). X-Bothub-Offset is where the bytes start; X-Bothub-Next-Offset, sent unless following, is where to read next.',
    params: S.NameParams,
    query: S.LogsQuery,
    stream: 'bytes',
  },
  startExec: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/execs',
    summary: 'Start a command in the background (`exec -d`); it runs on with no client. Its output goes to its own log.',
    params: S.NameParams,
    body: S.ExecBackground,
    reply: S.ExecRecord,
    status: 201,
  },
  listExecs: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/execs',
    summary: 'The exec ledger: every command run in the sandbox, oldest first.',
    params: S.NameParams,
    reply: Type.Array(S.ExecRecord),
  },
  getExec: { method: 'GET', url: '/api/v1/sandboxes/:name/execs/:id', summary: 'One command of the ledger.', params: S.ExecParams, reply: S.ExecRecord },
  killExec: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/execs/:id/kill',
    summary: "Send a signal (default SIGTERM) to a running command's process group.",
    params: S.ExecParams,
    body: S.KillExec,
    reply: S.ExecRecord,
  },
  execLogs: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/execs/:id/logs',
    summary: "A command's output from a byte offset (application/octet-stream), with the same headers as the console log.",
    params: S.ExecParams,
    query: S.LogsQuery,
    stream: 'bytes',
  },
  attachExec: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/execs/:id/attach',
    summary: 'WebSocket: re-join a running interactive command. First the recent screen (scrollback), then the same frames as exec/ws.',
    params: S.ExecParams,
    stream: 'websocket',
    socket: AttachSocket,
  },
} as const satisfies Record<string, RouteDef>;
