// GENERATED from src/api/schemas/files.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';
import { AbsolutePath, Timestamp } from './common.js';

/** Files inside a sandbox. */

const SandboxPath = AbsolutePath({ maxLength: 4096, description: 'Absolute path inside the sandbox.' });

export const FileQuery = Type.Object({ path: SandboxPath }, { additionalProperties: false });

export const ReadFileQuery = Type.Object(
  {
    path: SandboxPath,
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
    length: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 * 1024 * 1024 })),
  },
  { additionalProperties: false },
);

export const WriteFileQuery = Type.Object(
  { path: SandboxPath, mode: Type.Optional(Type.String({ pattern: '^[0-7]{3,4}$', description: 'Octal permissions; default 0644.' })) },
  { additionalProperties: false },
);

export const FileStat = Type.Object({
  path: Type.String(),
  type: Type.Union([Type.Literal('file'), Type.Literal('directory'), Type.Literal('symlink'), Type.Literal('other')]),
  size: Type.Integer(),
  mode: Type.String({ description: 'Octal permissions.' }),
  modifiedAt: Timestamp,
  linkTarget: Type.Optional(Type.String()),
});

export const FileEntry = Type.Object({
  name: Type.String(),
  type: FileStat.properties.type,
  size: Type.Integer(),
  mode: Type.String(),
  modifiedAt: Timestamp,
});

export type FileStatT = Static<typeof FileStat>;

export type FileEntryT = Static<typeof FileEntry>;
