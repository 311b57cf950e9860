import type { WebSocket } from 'ws';
import type { SocketErrorT } from '../../api/index.js';
import { toErrorBody } from './errors.js';

/** Ends a socket on any failure: the error as the last message (the SocketError schema), then close 1011 (1008 for the caller's fault). */
export function closeWithError(socket: WebSocket, err: unknown, requestId: string): void {
  const message: SocketErrorT = { type: 'error', ...toErrorBody(err, requestId) };
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  socket.close(message.statusCode < 500 ? 1008 : 1011, message.code);
}
