import type { SandboxT } from '../../../src/api/schemas.js';
import { call } from '../lib/api.js';
import { ACTION_ROUTE, ACTION_WARNING, actionsFor, displayState } from '../lib/format.js';
import { ConfirmButton } from './ConfirmButton.js';

/** The lifecycle actions that fit a sandbox's state, each confirmed first. */
export function SandboxActions({ s, onChanged }: { s: SandboxT; onChanged: (s: SandboxT | undefined) => void }) {
  return (
    <div className="row wrap actions" role="group" aria-label={`Actions for ${s.name}`}>
      {actionsFor(displayState(s)).map((a) => (
        <ConfirmButton
          key={a}
          label={a[0]!.toUpperCase() + a.slice(1)}
          ariaLabel={`${a[0]!.toUpperCase() + a.slice(1)} ${s.name}`}
          title={`${a[0]!.toUpperCase() + a.slice(1)} ${s.name}?`}
          warning={ACTION_WARNING[a]}
          danger={a === 'destroy'}
          onConfirm={async () => {
            if (a === 'destroy') {
              await call('destroySandbox', { params: { name: s.name } });
              onChanged(undefined);
            } else onChanged(await call(ACTION_ROUTE[a], { params: { name: s.name } }));
          }}
        />
      ))}
    </div>
  );
}
