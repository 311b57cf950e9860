import { useState } from 'react';
import type { FileEntryT } from '../../../../src/api/schemas.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { Table } from '../../components/Table.js';
import { request, routeUrl } from '../../lib/api.js';
import { call } from '../../lib/api.js';
import { bytes, time } from '../../lib/format.js';
import { useAction, useLoad } from '../../lib/hooks.js';

/** Shown inline up to this size; larger files are downloaded. */
const VIEW_LIMIT = 1024 * 1024;

const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const parent = (dir: string) => dir.replace(/\/[^/]+$/, '') || '/';

/** Browse a sandbox's files, view text, download (a file, or a directory as tar), upload. */
export function Files({ name }: { name: string }) {
  const [dir, setDir] = useState('/root');
  const [viewing, setViewing] = useState<{ path: string; text: string }>();
  const list = useLoad((signal) => call('listFiles', { params: { name }, query: { path: dir }, signal }), [name, dir]);
  const action = useAction();

  const view = (e: FileEntryT) =>
    action.run(async () => {
      const path = join(dir, e.name);
      const res = await request('GET', routeUrl('readFile', { name }, { path, length: VIEW_LIMIT }));
      const buf = new Uint8Array(await res.arrayBuffer());
      const text = buf.includes(0) ? '(binary file: download it to see it)' : new TextDecoder().decode(buf);
      setViewing({ path, text: e.size > VIEW_LIMIT ? `${text}\n[… first ${bytes(VIEW_LIMIT)} of ${bytes(e.size)}; download for the rest]` : text });
    });

  const upload = (files: FileList | null) =>
    action.run(async () => {
      for (const f of Array.from(files ?? [])) await request('PUT', routeUrl('writeFile', { name }, { path: join(dir, f.name) }), { body: f });
      list.reload();
    });

  const entries = (list.data ?? [])
    .slice()
    .sort((a, b) => ((a.type === 'directory') === (b.type === 'directory') ? a.name.localeCompare(b.name) : a.type === 'directory' ? -1 : 1));
  return (
    <>
      <form
        className="row wrap"
        aria-label="Go to directory"
        onSubmit={(e) => {
          e.preventDefault();
          const v = new FormData(e.currentTarget).get('path');
          if (typeof v === 'string' && v.startsWith('/')) setDir(v.replace(/\/+$/, '') || '/');
        }}
      >
        <label className="grow">
          Directory
          <input name="path" key={dir} defaultValue={dir} />
        </label>
        <button type="submit">Go</button>
        <button type="button" onClick={() => setDir(parent(dir))} disabled={dir === '/'}>
          Up
        </button>
        <label className="button">
          Upload files
          <input type="file" multiple className="visually-hidden" onChange={(e) => void upload(e.target.files)} />
        </label>
        <a className="button" href={routeUrl('getArchive', { name }, { path: dir })} download={`${name}${dir.replace(/\//g, '_')}.tar`}>
          Download directory (tar)
        </a>
      </form>
      <ErrorNote error={list.error ?? action.error} />
      <Table caption={dir} columns={['Name', 'Size', 'Mode', 'Modified', 'Download']}>
        {entries.map((e) => (
          <tr key={e.name}>
            <td>
              {e.type === 'directory' ? (
                <button type="button" className="link" onClick={() => setDir(join(dir, e.name))}>
                  {e.name}/
                </button>
              ) : e.type === 'file' ? (
                <button type="button" className="link" onClick={() => void view(e)}>
                  {e.name}
                </button>
              ) : (
                `${e.name} (${e.type})`
              )}
            </td>
            <td>{e.type === 'file' ? bytes(e.size) : ''}</td>
            <td>
              <code>{e.mode}</code>
            </td>
            <td>{time(e.modifiedAt)}</td>
            <td>
              {e.type === 'file' && (
                <a href={routeUrl('readFile', { name }, { path: join(dir, e.name) })} download={e.name} aria-label={`Download ${e.name}`}>
                  Download
                </a>
              )}
            </td>
          </tr>
        ))}
      </Table>
      {viewing && (
        <section aria-label={`Contents of ${viewing.path}`}>
          <h2>
            <code>{viewing.path}</code>
          </h2>
          <pre className="log" tabIndex={0} data-testid="file-view">
            {viewing.text}
          </pre>
        </section>
      )}
    </>
  );
}
