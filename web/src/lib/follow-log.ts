import { useEffect, useState } from 'react';
import { errorText, request } from './api.js';

export interface FollowedLog {
  text: string;
  /** The byte offset the next read starts at: every byte before it is in `text`, once. */
  offset: number;
  state: 'connecting' | 'live' | 'reconnecting' | 'complete';
  error?: string;
}

/** Past this, the oldest text is dropped from the page (the daemon keeps it all). */
const KEEP_CHARS = 2_000_000;
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

/**
 * Reads a log by byte offset and, when `follow`, stays on it. After a dropped
 * connection it asks again from the offset it got to, so nothing is lost or
 * shown twice; the UTF-8 decoder lives across reconnects, so a character cut
 * by the drop is still whole. Reconnects wait longer each time (no storm).
 */
export function useFollowLog(url: (offset: number, follow: boolean) => string, follow: boolean, key: string): FollowedLog {
  const [log, setLog] = useState<FollowedLog>({ text: '', offset: 0, state: 'connecting' });
  useEffect(() => {
    const ac = new AbortController();
    const decoder = new TextDecoder();
    let offset = 0;
    let text = '';
    let pause = 250;
    const publish = (state: FollowedLog['state'], error?: string) => {
      if (text.length > KEEP_CHARS) text = text.slice(text.length - KEEP_CHARS);
      setLog({ text, offset, state, ...(error ? { error } : {}) });
    };
    const run = async () => {
      while (!ac.signal.aborted) {
        try {
          const res = await request('GET', url(offset, follow), { signal: ac.signal });
          const start = Number(res.headers.get('x-bothub-offset') ?? offset);
          // The daemon starts where asked, unless the log was cut (rotated) under us.
          if (start > offset) text += `\n[… ${start - offset} bytes no longer kept …]\n`;
          offset = start;
          const reader = res.body!.getReader();
          let got = 0;
          publish('live');
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            offset += value.byteLength;
            got += value.byteLength;
            text += decoder.decode(value, { stream: true }).replace(ANSI, '');
            pause = 250;
            publish('live');
          }
          // Not following: read on at once until a read brings nothing.
          if (!follow) {
            if (got === 0) return publish('complete');
            continue;
          }
        } catch (e) {
          if (ac.signal.aborted) return;
          publish('reconnecting', errorText(e));
        }
        if (follow) publish('reconnecting');
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 10_000);
      }
    };
    void run();
    return () => ac.abort();
    // Only a new log or a change of follow starts again; the rest is read through refs.
  }, [key, follow]);
  return log;
}
