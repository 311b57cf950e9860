// GENERATED from src/api/socket-def.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static, type TSchema } from 'typebox';
import { ErrorReply } from './schemas.js';

/**
 * How a WebSocket route talks, in both directions. Text messages are JSON
 * described by schemas; binary frames carry one channel tag byte, then bytes.
 * The daemon validates every client message against this before a handler
 * sees it (a bad one ends the socket with an `error` message and close code
 * 1008), and clients type what they send and read from it.
 */
export interface SocketDef {
  /** The text message the client must send first, before anything else; absent: none. */
  start?: TSchema;
  /** The text messages the client may send (after `start`); absent: it sends none. */
  client?: TSchema;
  /** Channel tags of the binary frames the client may send; empty: none. */
  clientChannels: readonly number[];
  /** The text messages the daemon sends; a union that includes SocketError, which any socket may end with. */
  server: TSchema;
  /** Channel tags of the binary frames the daemon sends. */
  serverChannels: readonly number[];
}

/** WebSocket close codes the daemon uses (RFC 6455 §7.4.1). */
export const SocketClose = {
  Normal: 1000,
  /** The client sent a message the route does not take, or asked for something refused (a 4xx). */
  PolicyViolation: 1008,
  /** The daemon failed (a 5xx); the `error` message before it says more. */
  InternalError: 1011,
  /** The daemon was too busy (BUSY, 503): nothing is wrong with the request; connect again later. */
  TryAgainLater: 1013,
} as const;

/** The last message of a socket that ends in a refusal or a failure: the API's error shape, tagged. */
export const SocketError = Type.Object(
  { type: Type.Literal('error'), ...ErrorReply.properties },
  { description: 'The last message before the close: 1008 for a refusal (a 4xx code), 1013 when the daemon was too busy (BUSY), 1011 for another failure (5xx).' },
);
export type SocketErrorT = Static<typeof SocketError>;
