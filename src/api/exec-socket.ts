import { Type, type Static } from 'typebox';
import { ExecStart, Nullable, ProgressEvent } from './schemas.js';
import { SocketError, type SocketDef } from './socket-def.js';

import { Channel } from './channels.js';

export { Channel };

const TerminalSize = { rows: Type.Integer({ minimum: 1, maximum: 1000 }), cols: Type.Integer({ minimum: 1, maximum: 1000 }) };

/** Client → daemon control messages (after the first, an ExecStart for a new command). */
export const ExecControl = Type.Union([
  Type.Object({ type: Type.Literal('eof') }, { additionalProperties: false, description: 'No more stdin.' }),
  Type.Object({ type: Type.Literal('resize'), ...TerminalSize }, { additionalProperties: false, description: 'The terminal changed size.' }),
  Type.Object(
    { type: Type.Literal('signal'), signal: Type.Integer({ minimum: 1, maximum: 64 }) },
    { additionalProperties: false, description: "A signal for the command's process group." },
  ),
]);

/** Daemon → client messages. */
export const ExecServerMessage = Type.Union([
  Type.Object(
    { type: Type.Literal('progress'), ...ProgressEvent.properties },
    { description: 'Before `started`: what has to happen first, e.g. a sandbox parked by a released rented host being placed and thawed (rent, ssh, agent, transfer, thaw).' },
  ),
  Type.Object({ type: Type.Literal('started'), id: Type.String({ description: 'The exec id, as `bothub ps` shows it.' }) }),
  Type.Object({
    type: Type.Literal('exit'),
    exitCode: Type.Integer({ description: 'Exit code; 128+N when killed by signal N.' }),
    signal: Nullable(Type.Integer()),
    oomKilled: Type.Boolean(),
  }),
  SocketError,
]);

/** A new command: an ExecStart first, then stdin frames and control messages. */
export const ExecSocket = {
  start: ExecStart,
  client: ExecControl,
  clientChannels: [Channel.Stdin],
  server: ExecServerMessage,
  serverChannels: [Channel.Stdout, Channel.Stderr],
} as const satisfies SocketDef;

/** A running interactive command re-joined: no start message; the rest as on ExecSocket. */
export const AttachSocket = {
  client: ExecControl,
  clientChannels: [Channel.Stdin],
  server: ExecServerMessage,
  serverChannels: [Channel.Stdout],
} as const satisfies SocketDef;

export type ExecControlT = Static<typeof ExecControl>;
export type ExecServerMessageT = Static<typeof ExecServerMessage>;
