import { Type, type Static } from 'typebox';
import { Name, Timestamp } from './common.js';

/** Images and the registries they are pulled from and pushed to. */

export const ImageConfig = Type.Object(
  {
    entrypoint: Type.Array(Type.String()),
    cmd: Type.Array(Type.String()),
    env: Type.Array(Type.String()),
    workingDir: Type.String(),
    user: Type.String(),
  },
  { description: "The image's OCI config: what `create` with no command runs, with which environment, where and as whom." },
);

export const Image = Type.Object({
  name: Type.String(),
  source: Type.Union([
    Type.Literal('debootstrap'),
    Type.Literal('tarball'),
    Type.Literal('docker-archive'),
    Type.Literal('registry'),
    Type.Literal('oci-archive'),
    Type.Literal('saved'),
  ]),
  sizeBytes: Type.Integer({ description: 'Bytes of its layers (shared layers are stored once).' }),
  createdAt: Timestamp,
  reference: Type.Optional(Type.String({ description: 'Where it was pulled from.' })),
  digest: Type.Optional(Type.String({ description: 'Its OCI manifest digest.' })),
  layers: Type.Optional(Type.Array(Type.String(), { description: 'Its layers in the shared layer store, bottom first.' })),
  base: Type.Optional(Type.String({ description: 'The image a saved one was made on.' })),
  config: Type.Optional(ImageConfig),
});

export const PullImage = Type.Object(
  {
    reference: Type.String({ minLength: 1, maxLength: 512, description: '[HOST/]NAME[:TAG][@sha256:DIGEST]; short names are Docker Hub.' }),
    name: Type.Optional(Name),
  },
  { additionalProperties: false },
);

export const SaveImage = Type.Object({ name: Name }, { additionalProperties: false });

export const PushImage = Type.Object(
  { reference: Type.String({ minLength: 1, maxLength: 512, description: 'Where to push: HOST/NAME[:TAG].' }) },
  { additionalProperties: false },
);

export const PushResult = Type.Object({ reference: Type.String(), digest: Type.String() });

export const RegistryHostParams = Type.Object({ host: Type.String({ minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9.\\[\\]:-]+$' }) }, { additionalProperties: false });

export const RegistryLogin = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 256 }), password: Type.String({ minLength: 1, maxLength: 65536 }) },
  { additionalProperties: false },
);

export const RegistryCredential = Type.Object({ host: Type.String(), username: Type.String(), createdAt: Timestamp });

export const ImportImageQuery = Type.Object({ name: Name }, { additionalProperties: false });

export type ImageT = Static<typeof Image>;

export type PushResultT = Static<typeof PushResult>;

export type RegistryCredentialT = Static<typeof RegistryCredential>;
