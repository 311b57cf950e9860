import { Type, type Static } from 'typebox';
import { HostFingerprintSchema } from '../../core/fingerprint.js';
import { Nullable, Name, Timestamp } from './common.js';

/** The fleet: hosts, their fingerprints and the compatibility verdicts. */

/** Defined in core (the gate compares them there); the API shows them as they are. */
export const HostFingerprint = HostFingerprintSchema;

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
