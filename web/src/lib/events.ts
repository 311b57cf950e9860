import { useEffect, useRef } from 'react';
import type { EventT } from '../../../src/api/schemas.js';
import type { ServerMessageOf } from '../../../src/api/routes.js';

type EventsSocketMessage = ServerMessageOf<'eventsStream'>;
import { call, routeUrl, socketUrl } from './api.js';

/**
 * Follows the event stream: the latest event id first (so nothing between the
 * caller's own load and the socket is missed), then the socket from there.
 * After a drop it reconnects from the last id seen, with a growing pause, so
 * nothing is lost or repeated and a dead daemon is not hammered. Events that
 * arrive together are handed over as one batch (one re-render, one refresh).
 */
export function useEvents(onBatch: (events: EventT[]) => void, sandbox?: string): void {
  const handler = useRef(onBatch);
  handler.current = onBatch;
  useEffect(() => {
    let stopped = false;
    let socket: WebSocket | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let pending: EventT[] = [];
    let flush: ReturnType<typeof setTimeout> | undefined;
    let after: number | undefined;
    let pause = 500;
    const deliver = () => {
      flush = undefined;
      const batch = pending;
      pending = [];
      if (batch.length) handler.current(batch);
    };
    const connect = () => {
      if (stopped) return;
      socket = new WebSocket(socketUrl(routeUrl('eventsStream', {}, { after, sandbox })));
      socket.onopen = () => (pause = 500);
      socket.onmessage = (m) => {
        const e = JSON.parse(String(m.data)) as EventsSocketMessage;
        if (!('id' in e)) return; // an error: the close that follows reconnects
        if (after !== undefined && e.id <= after) return;
        after = e.id;
        pending.push(e);
        flush ??= setTimeout(deliver, 150);
      };
      socket.onclose = () => {
        if (stopped) return;
        retry = setTimeout(connect, pause);
        pause = Math.min(pause * 2, 10_000);
      };
    };
    call('listEvents', { query: { limit: 1, sandbox } })
      .then((latest) => {
        after = latest.at(-1)?.id ?? 0;
      })
      .catch(() => (after = 0))
      .finally(connect);
    return () => {
      stopped = true;
      clearTimeout(retry);
      clearTimeout(flush);
      socket?.close();
    };
  }, [sandbox]);
}
