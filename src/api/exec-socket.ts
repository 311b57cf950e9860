import { Type, type Static } from 'typebox';

/**
 * The exec WebSocket's framing, shared by the daemon and every client: binary
 * messages carry one channel tag byte and then bytes; text messages are JSON.
 */
export const Channel = { Stdin: 0, Stdout: 1, Stderr: 2 } as const;

/** Client → daemon control messages (after the first, an ExecStart for a new command). */
export const ExecControlMessage = Type.Union([
  Type.Object({ type: Type.Literal('eof') }, { description: 'Close the command’s stdin.' }),
  Type.Object({ type: Type.Literal('resize'), rows: Type.Integer({ minimum: 1 }), cols: Type.Integer({ minimum: 1 }) }, { description: 'Resize its terminal.' }),
  Type.Object({ type: Type.Literal('signal'), signal: Type.Integer({ minimum: 1, maximum: 64 }) }, { description: 'Send it a signal by number.' }),
]);
export type ExecControl = Static<typeof ExecControlMessage>;

/** Daemon → client JSON messages: the command's ledger id once it runs, then its exit or an error. */
export const ExecServerMessage = Type.Union([
  Type.Object({ type: Type.Literal('started'), id: Type.String({ description: 'The command’s id in the exec ledger.' }) }),
  Type.Object({
    type: Type.Literal('exit'),
    exitCode: Type.Integer({ description: '128+N when killed by signal N.' }),
    signal: Type.Union([Type.Null(), Type.Integer()]),
    oomKilled: Type.Boolean(),
  }),
  Type.Object({ type: Type.Literal('error'), statusCode: Type.Integer(), code: Type.String(), error: Type.String(), message: Type.String() }),
]);
export type ExecServerMessageT = Static<typeof ExecServerMessage>;
