import { useEffect, useRef } from 'react';
import type { FollowedLog } from '../lib/follow-log.js';
import { ErrorNote } from './ErrorNote.js';

/** A followed log: keeps to the bottom while the reader is there, lets them scroll up in peace. */
export function LogView({ log, label }: { log: FollowedLog; label: string }) {
  const pre = useRef<HTMLPreElement>(null);
  const atBottom = useRef(true);
  useEffect(() => {
    const el = pre.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [log.text]);
  return (
    <div>
      <p className="muted" role="status" data-testid="log-state">
        {label}: {log.state}, {log.offset} bytes
      </p>
      {log.state === 'reconnecting' && <ErrorNote error={log.error} />}
      <pre
        ref={pre}
        className="log"
        tabIndex={0}
        aria-label={label}
        data-offset={log.offset}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {log.text || (log.state === 'complete' ? '(no output)' : '')}
      </pre>
    </div>
  );
}
