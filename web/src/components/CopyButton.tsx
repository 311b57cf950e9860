import { useState } from 'react';

/** Copies a text (a URL, a key); the button keeps its name, and a status says it was copied. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <>
      <button
        type="button"
        aria-label={`${label}: ${text}`}
        onClick={() =>
          void navigator.clipboard?.writeText(text).then(() => {
            setDone(true);
            setTimeout(() => setDone(false), 1500);
          })
        }
      >
        {label}
      </button>
      <span role="status" className="muted">
        {done ? 'Copied' : ''}
      </span>
    </>
  );
}
