import { STATE_LABEL, type DisplayState } from '../lib/format.js';

/** A state shown by colour AND by a word and a shape, never by colour alone. */
const MARK: Record<DisplayState, string> = { hot: '●', warm: '◐', cold: '○', stopped: '■', failed: '✕', moving: '➜', creating: '…', unknown: '?' };

export function StateBadge({ state }: { state: DisplayState }) {
  return (
    <span className={`badge state-${state}`} data-state={state}>
      <span aria-hidden="true">{MARK[state]} </span>
      {STATE_LABEL[state]}
    </span>
  );
}
