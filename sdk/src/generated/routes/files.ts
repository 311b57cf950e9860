// GENERATED from src/api/routes/files.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type } from 'typebox';
import * as S from '../schemas.js';
import { type RouteDef } from './route-def.js';

/** Files inside a sandbox, one at a time or as tar archives. */
export const fileRoutes = {
  statFile: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/files/stat',
    summary: 'What a path inside the sandbox is.',
    params: S.NameParams,
    query: S.FileQuery,
    reply: S.FileStat,
  },
  listFiles: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/files/list',
    summary: 'The entries of a directory inside the sandbox.',
    params: S.NameParams,
    query: S.FileQuery,
    reply: Type.Array(S.FileEntry),
  },
  readFile: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/files/content',
    summary: 'Bytes of a file inside the sandbox, from offset, up to length (application/octet-stream; at most 64 MiB a call).',
    params: S.NameParams,
    query: S.ReadFileQuery,
    stream: 'bytes',
  },
  writeFile: {
    method: 'PUT',
    url: '/api/v1/sandboxes/:name/files/content',
    summary: 'Write the request body (at most 64 MiB) to a file inside the sandbox, making its parent directories.',
    params: S.NameParams,
    query: S.WriteFileQuery,
    stream: 'upload',
  },
  getArchive: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/archive',
    summary: 'A tar of a path inside the sandbox (file or directory, modes kept); for `bothub cp NAME:/path .`.',
    params: S.NameParams,
    query: S.FileQuery,
    stream: 'bytes',
  },
  putArchive: {
    method: 'PUT',
    url: '/api/v1/sandboxes/:name/archive',
    summary: 'Unpack the tar in the request body into a directory inside the sandbox (made if missing); for `bothub cp . NAME:/path`.',
    params: S.NameParams,
    query: S.FileQuery,
    stream: 'upload',
  },
} as const satisfies Record<string, RouteDef>;
