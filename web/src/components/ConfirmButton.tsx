import { useEffect, useRef, useState, type ReactNode } from 'react';
import { errorText } from '../lib/api.js';

/**
 * A button that asks first, in a modal dialog (focus moves into it, Escape
 * cancels), then runs the action and shows its whole error if it fails.
 * The dialog exists only while open: a page of 200 tiles holds no hidden dialogs.
 */
export function ConfirmButton(props: {
  label: string;
  title: string;
  warning: ReactNode;
  confirmLabel?: string;
  danger?: boolean;
  disabled?: boolean;
  className?: string;
  ariaLabel?: string;
  onConfirm: () => Promise<unknown>;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const ok = useRef<HTMLButtonElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (!open) return;
    dialog.current?.showModal();
    // The focus starts on the safe choice: Cancel for what cannot be undone, else the action.
    (props.danger ? cancel : ok).current?.focus();
  }, [open, props.danger]);
  // Never rejects: a failure is shown in the dialog.
  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm();
      dialog.current?.close();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        className={props.className ?? (props.danger ? 'danger' : undefined)}
        disabled={props.disabled}
        aria-label={props.ariaLabel}
        onClick={() => {
          setError(undefined);
          setOpen(true);
        }}
      >
        {props.label}
      </button>
      {open && (
        <dialog ref={dialog} aria-label={props.title} onClose={() => setOpen(false)}>
          <h2>{props.title}</h2>
          <p>{props.warning}</p>
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
          <div className="row end">
            <button type="button" ref={cancel} onClick={() => dialog.current?.close()} disabled={busy}>
              Cancel
            </button>
            <button type="button" className={props.danger ? 'danger' : 'primary'} ref={ok} onClick={() => void confirm()} disabled={busy}>
              {busy ? 'Working…' : (props.confirmLabel ?? props.label)}
            </button>
          </div>
        </dialog>
      )}
    </>
  );
}
