import { Type } from 'typebox';
import { ExecBackground, ExecRequest, KillExec, LogsQuery } from '../../api/index.js';
import { tool } from '../tool-kit.js';
import { execIdArg, keyword, sandboxArg } from './args.js';
import { execReport, SHOWN_BYTES } from './exec-output.js';

/** A foreground command that names no timeout gets this one: a model's turn should not hang on it. */
const DEFAULT_TIMEOUT_MS = 30_000;

const command = Type.Array(ExecRequest.properties.command.items, {
  minItems: 1,
  maxItems: keyword<number>(ExecRequest.properties.command, 'maxItems'),
  description: 'The program and its arguments, such as ["python3", "-c", "print(6*7)"]. For pipes, redirections or several commands use ["sh", "-c", "..."].',
});

export const execTools = [
  tool({
    name: 'exec',
    description:
      'Run a command in a sandbox and wait for it to finish. Returns exitCode, stdout and stderr (and timedOut / oomKilled when so). ' +
      `Each stream shows at most ${SHOWN_BYTES / 1024} KiB; when more was written, "cut" gives the byte ranges shown and the exec_log call that reads the rest. ` +
      `It is killed after timeoutMs (default ${DEFAULT_TIMEOUT_MS / 1000} s); for anything longer (a server, a training run) use exec_background. ` +
      'Files and processes it leaves stay in the sandbox for the next call.',
    input: Type.Object(
      {
        sandbox: sandboxArg,
        ...ExecRequest.properties,
        command,
        timeoutMs: Type.Optional(Type.Integer({ ...ExecRequest.properties.timeoutMs, description: `Kill it after this many milliseconds; default ${DEFAULT_TIMEOUT_MS}.` })),
      },
      { additionalProperties: false },
    ),
    run: async ({ sandbox, ...body }, { api }) => {
      const r = await api.call('exec', { params: { name: sandbox }, body: { ...body, timeoutMs: body.timeoutMs ?? DEFAULT_TIMEOUT_MS } });
      return execReport(api, sandbox, r);
    },
  }),
  tool({
    name: 'exec_background',
    description:
      'Start a command in a sandbox and return at once, leaving it running (servers, long jobs). Returns its id: follow it with exec_status, read its output (stdout and stderr together) with exec_log, stop it with exec_kill.',
    input: Type.Object({ sandbox: sandboxArg, ...ExecBackground.properties, command }, { additionalProperties: false }),
    run: async ({ sandbox, ...body }, { api }) => api.call('startExec', { params: { name: sandbox }, body }),
  }),
  tool({
    name: 'exec_status',
    description:
      "One command's record: status (running, exited, killed, lost), exit code or signal, and outputBytes (the size of its log once it ended). " +
      'Without id: every command run in the sandbox, oldest first (the exec ledger).',
    input: Type.Object({ sandbox: sandboxArg, id: Type.Optional(execIdArg) }, { additionalProperties: false }),
    annotations: { readOnlyHint: true },
    run: async ({ sandbox, id }, { api }) =>
      id ? api.call('getExec', { params: { name: sandbox, id } }) : { commands: await api.call('listExecs', { params: { name: sandbox } }) },
  }),
  tool({
    name: 'exec_log',
    description:
      "Read a command's output (stdout and stderr interleaved as written) from a byte offset. Returns the text, nextOffset (pass it as offset to read on), " +
      'and whether the command still runs: when running is false and nextOffset equals totalBytes, you have all of it.',
    input: Type.Object(
      {
        sandbox: sandboxArg,
        id: execIdArg,
        offset: LogsQuery.properties.offset,
        limit: Type.Optional(Type.Integer({ ...LogsQuery.properties.limit, description: `Bytes to read at most; default ${SHOWN_BYTES}.` })),
      },
      { additionalProperties: false },
    ),
    annotations: { readOnlyHint: true },
    run: async ({ sandbox, id, offset, limit }, { api }) => {
      const params = { name: sandbox, id };
      const res = await api.fetch('execLogs', { params, query: { offset: offset ?? 0, limit: limit ?? SHOWN_BYTES } });
      const text = await res.text();
      const rec = await api.call('getExec', { params });
      return {
        id,
        offset: Number(res.headers.get('x-bothub-offset')),
        nextOffset: Number(res.headers.get('x-bothub-next-offset')),
        running: rec.status === 'running',
        ...(rec.outputBytes !== null ? { totalBytes: rec.outputBytes } : {}),
        status: rec.status,
        exitCode: rec.exitCode,
        output: text,
      };
    },
  }),
  tool({
    name: 'exec_kill',
    description: "Send a signal (default SIGTERM; \"KILL\" when it ignores that) to a running command's whole process group. Returns its record.",
    input: Type.Object({ sandbox: sandboxArg, id: execIdArg, ...KillExec.properties }, { additionalProperties: false }),
    annotations: { destructiveHint: true },
    run: ({ sandbox, id, ...body }, { api }) => api.call('killExec', { params: { name: sandbox, id }, body }),
  }),
];
