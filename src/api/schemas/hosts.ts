import { Type, type Static } from 'typebox';
import { Nullable, Name, Timestamp } from './common.js';

/** The fleet: hosts, their fingerprints and the compatibility verdicts. */

const GpuDevice = Type.Object({ index: Type.Integer(), name: Type.String(), uuid: Type.String(), memoryMb: Type.Number(), memoryUsedMb: Type.Number() });

export const HostFingerprint = Type.Object({
  kernel: Type.String(),
  arch: Type.String(),
  cpuModel: Type.String(),
  cpuFlags: Type.Array(Type.String()),
  criuVersion: Type.String(),
  runcVersion: Type.String(),
  cpus: Type.Optional(Type.Integer()),
  memoryBytes: Type.Optional(Type.Number()),
  diskFreeBytes: Type.Optional(Type.Number()),
  root: Type.Optional(Type.Boolean()),
  criuCheck: Type.Optional(Type.String()),
  gpu: Type.Optional(Nullable(Type.Object({ driverVersion: Type.String(), cudaVersion: Type.String(), devices: Type.Array(GpuDevice), topology: Type.Optional(Type.String()) }))),
});

export const Host = Type.Object({
  name: Type.String(),
  ssh: Nullable(Type.String({ description: 'user@address:port' }), { description: 'null for the daemon’s own machine, "local".' }),
  status: Type.Union([Type.Literal('reachable'), Type.Literal('unreachable')]),
  statusReason: Nullable(Type.String()),
  lastSeenAt: Nullable(Timestamp),
  hostKey: Nullable(Type.String(), { description: 'Pinned SSH host key (SHA256).' }),
  sandboxes: Type.Integer(),
  fingerprint: HostFingerprint,
});

export const AddHost = Type.Object(
  {
    name: Name,
    ssh: Type.String({ pattern: '^[a-z_][a-z0-9_-]*@[A-Za-z0-9.:\\[\\]-]+$', maxLength: 300, description: 'user@address[:port]' }),
    privateKey: Type.String({ minLength: 1, maxLength: 32768, description: 'The SSH private key (PEM / OpenSSH); stored sealed.' }),
    dataDir: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9._/-]*$', maxLength: 1024, description: "The agent's data directory there (default /var/lib/bothub)." })),
  },
  { additionalProperties: false },
);

export const HostVerdict = Type.Object({ host: Type.String(), status: Host.properties.status, compatible: Type.Boolean(), reasons: Type.Array(Type.String()) });

export type HostT = Static<typeof Host>;

export type AddHostT = Static<typeof AddHost>;

export type HostVerdictT = Static<typeof HostVerdict>;
