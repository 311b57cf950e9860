import { Type } from 'typebox';
import { FileQuery, ReadFileQuery, WriteFileQuery, type FileStatT } from '../../api/index.js';
import { tool } from '../tool-kit.js';
import { sandboxArg } from './args.js';
import { SHOWN_BYTES } from './exec-output.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text when the bytes are UTF-8 (what a model reads), base64 otherwise. */
function decode(bytes: Uint8Array): { encoding: 'utf8' | 'base64'; content: string } {
  try {
    return { encoding: 'utf8', content: utf8.decode(bytes) };
  } catch {
    return { encoding: 'base64', content: Buffer.from(bytes).toString('base64') };
  }
}

const encoding = Type.Optional(
  Type.Union([Type.Literal('utf8'), Type.Literal('base64')], { description: 'How content is written: utf8 text (the default) or base64 for binary data.' }),
);

export const fileTools = [
  tool({
    name: 'read_file',
    description:
      `Read a file inside a sandbox, from offset, at most length bytes (default ${SHOWN_BYTES}). ` +
      'Returns the content (UTF-8 text, or base64 when it is not text, as "encoding" says), the file\'s size, and nextOffset when there is more to read.',
    input: Type.Object(
      { sandbox: sandboxArg, ...ReadFileQuery.properties, length: Type.Optional(Type.Integer({ ...ReadFileQuery.properties.length, description: `Bytes to read at most; default ${SHOWN_BYTES}.` })) },
      { additionalProperties: false },
    ),
    annotations: { readOnlyHint: true },
    run: async ({ sandbox, ...query }, { api }) => {
      const offset = query.offset ?? 0;
      const res = await api.fetch('readFile', { params: { name: sandbox }, query: { ...query, offset, length: query.length ?? SHOWN_BYTES } });
      const bytes = new Uint8Array(await res.arrayBuffer());
      const size = Number(res.headers.get('x-bothub-file-size'));
      const end = offset + bytes.length;
      return { path: query.path, size, offset, ...decode(bytes), ...(end < size ? { nextOffset: end } : {}) };
    },
  }),
  tool({
    name: 'write_file',
    description: 'Write a whole file inside a sandbox (replacing it if it exists), making its parent directories. Returns the file\'s path, size and mode.',
    input: Type.Object(
      { sandbox: sandboxArg, ...WriteFileQuery.properties, content: Type.String({ maxLength: 16 * 1024 * 1024, description: 'The file\'s content (at most 16 MiB).' }), encoding },
      { additionalProperties: false },
    ),
    run: async ({ sandbox, content, encoding: enc, ...query }, { api }) => {
      const body = Buffer.from(content, enc === 'base64' ? 'base64' : 'utf8');
      const res = await api.fetch('writeFile', { params: { name: sandbox }, query, rawBody: body });
      return (await res.json()) as FileStatT;
    },
  }),
  tool({
    name: 'list_files',
    description: 'List a directory inside a sandbox: each entry\'s name, type (file, directory, symlink, other), size, mode and modification time.',
    input: Type.Object({ sandbox: sandboxArg, ...FileQuery.properties }, { additionalProperties: false }),
    annotations: { readOnlyHint: true },
    run: async ({ sandbox, path }, { api }) => ({ path, entries: await api.call('listFiles', { params: { name: sandbox }, query: { path } }) }),
  }),
];
