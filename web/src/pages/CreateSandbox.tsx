import { useState, type FormEvent } from 'react';
import type { SandboxT } from '../../../src/api/schemas.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { call } from '../lib/api.js';
import { useAction } from '../lib/hooks.js';

/** A new sandbox: the daemon answers once it is ready to exec. */
export function CreateSandbox({ onCreated }: { onCreated: (s: SandboxT) => void }) {
  const [name, setName] = useState('');
  const [image, setImage] = useState('');
  const [gpus, setGpus] = useState('');
  const [memoryMb, setMemoryMb] = useState('');
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const s = await call('createSandbox', {
        body: {
          ...(name.trim() ? { name: name.trim() } : {}),
          ...(image.trim() ? { image: image.trim() } : {}),
          ...(gpus.trim() ? { gpus: gpus.trim() } : {}),
          ...(memoryMb ? { memoryMb: Number(memoryMb) } : {}),
        },
      });
      setName('');
      onCreated(s);
    });
  };
  return (
    <details className="create">
      <summary>New sandbox</summary>
      <form onSubmit={submit} className="row wrap" aria-label="New sandbox">
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="generated if empty" pattern="[a-z0-9]([a-z0-9\-]{0,46}[a-z0-9])?" />
        </label>
        <label>
          Image
          <input value={image} onChange={(e) => setImage(e.target.value)} placeholder="debian" />
        </label>
        <label>
          Memory (MiB)
          <input type="number" min={16} value={memoryMb} onChange={(e) => setMemoryMb(e.target.value)} />
        </label>
        <label>
          GPUs
          <input value={gpus} onChange={(e) => setGpus(e.target.value)} placeholder="none, all, 2, GPU-…" />
        </label>
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? 'Creating…' : 'Create'}
        </button>
        <ErrorNote error={action.error} />
      </form>
    </details>
  );
}
