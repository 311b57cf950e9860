import { Type, type Static } from 'typebox';
import { Nullable, Name, ArgText, AbsolutePath, Env, Timestamp } from './common.js';

/** Commands run in a sandbox: to completion, streamed, or in the background (the exec ledger). */

/** Where a command starts inside the sandbox: one rule for every way to run one. */
const Workdir = AbsolutePath({ maxLength: 4096 });

export const ExecRequest = Type.Object(
  {
    command: Type.Array(ArgText({ maxLength: 131072 }), { minItems: 1, maxItems: 4096 }),
    env: Type.Optional(Env),
    workdir: Type.Optional(Workdir),
    stdin: Type.Optional(Type.String({ maxLength: 16 * 1024 * 1024, description: 'Written to the command, then closed.' })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
  },
  { additionalProperties: false },
);

export const ExecResult = Type.Object({
  id: Type.String({ description: "The command's id in the exec ledger, which keeps its whole output (`execLogs`)." }),
  exitCode: Type.Integer({ description: 'Exit code; 128+N when killed by signal N.' }),
  signal: Nullable(Type.Integer()),
  stdout: Type.String(),
  stderr: Type.String(),
  truncated: Type.Boolean({ description: 'Output beyond the reply limit was dropped.' }),
  oomKilled: Type.Boolean({ description: 'The kernel killed a process of the sandbox for exceeding its memory limit (memoryMb).' }),
  timedOut: Type.Boolean(),
  durationMs: Type.Number(),
});

export const ExecStart = Type.Object(
  {
    command: ExecRequest.properties.command,
    env: Type.Optional(Env),
    workdir: Type.Optional(Workdir),
    tty: Type.Optional(Type.Object({ rows: Type.Integer({ minimum: 1, maximum: 1000 }), cols: Type.Integer({ minimum: 1, maximum: 1000 }) })),
  },
  { additionalProperties: false },
);

export const LogsQuery = Type.Object(
  {
    offset: Type.Optional(Type.Integer({ minimum: 0, description: 'Byte offset to read from; the reply says the next one.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024 })),
    follow: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ExecParams = Type.Object(
  { name: Name, id: Type.String({ pattern: '^[0-9a-f]{8}$', description: 'Exec id, as `bothub ps` shows it.' }) },
  { additionalProperties: false },
);

export const ExecBackground = Type.Object(
  {
    command: ExecRequest.properties.command,
    env: Type.Optional(Env),
    workdir: Type.Optional(Workdir),
  },
  { additionalProperties: false },
);

export const ExecRecord = Type.Object({
  id: Type.String(),
  command: Type.Array(Type.String()),
  workdir: Type.String(),
  actor: Type.String({ description: 'Who ran it.' }),
  tty: Type.Boolean(),
  detached: Type.Boolean({ description: 'Started with `exec -d`: runs on with no client.' }),
  status: Type.Union([Type.Literal('running'), Type.Literal('exited'), Type.Literal('killed'), Type.Literal('lost')], {
    description: 'lost: its sandbox stopped under it, or the daemon stopped during a foreground command.',
  }),
  startedAt: Timestamp,
  endedAt: Nullable(Timestamp),
  exitCode: Nullable(Type.Integer()),
  signal: Nullable(Type.Integer()),
  outputBytes: Nullable(Type.Integer(), { description: 'Its output is bytes [0, outputBytes) of its log; null while it runs.' }),
  pid: Type.Optional(Nullable(Type.Integer(), { description: "In the sandbox's PID namespace (a detached command leads its process group)." })),
});

export const KillExec = Type.Object(
  { signal: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 64 }), Type.String({ pattern: '^(SIG)?[A-Z0-9]{2,8}$' })])) },
  { additionalProperties: false },
);

export type ExecRequestT = Static<typeof ExecRequest>;

export type ExecResultT = Static<typeof ExecResult>;

export type ExecStartT = Static<typeof ExecStart>;

export type ExecBackgroundT = Static<typeof ExecBackground>;

export type ExecRecordT = Static<typeof ExecRecord>;
