import { Type, type Static } from 'typebox';
import { NETWORK_MODES, SANDBOX_STATUSES, THERMAL_STATES } from '../../core/vocabulary.js';
import { Literals, Nullable, Name, ArgText, Env, Timestamp } from './common.js';
import { ExecRecord } from './exec.js';
import { SecretName } from './secrets.js';

/** Sandboxes: the record, creating one, moving one between hosts, and its resource use. */

export const SandboxStatus = Literals(SANDBOX_STATUSES);

const NetworkMode = Literals(NETWORK_MODES, {
  description: "default: own address and outbound NAT; peers: also reach the owner's other peers sandboxes; none: loopback only.",
});

export const Sandbox = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: SandboxStatus,
  statusReason: Nullable(Type.String(), { description: 'Why the sandbox is in its status, when it was not asked for.' }),
  image: Type.String(),
  cpus: Nullable(Type.Number()),
  memoryMb: Nullable(Type.Integer()),
  pidsLimit: Type.Integer(),
  network: NetworkMode,
  address: Nullable(Type.String()),
  command: Type.Array(Type.String()),
  env: Env,
  secrets: Type.Array(Type.String(), { description: 'Names of the secrets exposed to it; values are never shown.' }),
  thermal: Literals(THERMAL_STATES, { description: 'hot: running; warm: frozen in place; cold: on disk, processes gone.' }),
  idleWarmMs: Nullable(Type.Integer(), { description: "Idle time before it goes warm; null: the daemon's default; 0: never." }),
  idleColdMs: Nullable(Type.Integer()),
  keepHot: Type.Boolean(),
  urls: Type.Array(Type.Object({ port: Type.Integer(), public: Type.Boolean(), url: Type.String(), pathUrl: Type.String() })),
  owner: Nullable(Type.String()),
  host: Type.String({ description: 'Where it runs: "local" (the daemon\'s machine) or a fleet host.' }),
  gpus: Type.Array(Type.String(), { description: 'UUIDs of its NVIDIA GPUs (held while it runs; the ones it held last while it sleeps).' }),
  diskMb: Nullable(Type.Integer(), { description: 'Size limit of its writable layer, MB (writes beyond it get ENOSPC); null: none.' }),
  createdAt: Timestamp,
  startedAt: Nullable(Timestamp),
});

const DiskMb = Type.Integer({
  minimum: 32,
  maximum: 16 * 1024 * 1024,
  description: "Size limit of the writable layer, MB: its own ext4 image, so a full disk is ENOSPC inside and nothing outside; absent: the daemon's default (BOTHUB_DISK).",
});

export const CreateSandbox = Type.Object(
  {
    name: Type.Optional(Name),
    image: Type.Optional(Name),
    cpus: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1024 })),
    memoryMb: Type.Optional(Type.Integer({ minimum: 16, maximum: 16777216 })),
    env: Type.Optional(Env),
    network: Type.Optional(NetworkMode),
    command: Type.Optional(Type.Array(ArgText({ maxLength: 65536 }), { maxItems: 4096, description: 'Main process, run by init; its output goes to the console log.' })),
    secrets: Type.Optional(Type.Array(SecretName, { maxItems: 256, uniqueItems: true, description: "The owner's secrets to expose as environment variables." })),
    idleWarmMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 31_536_000_000, description: 'Idle time before freezing in place; 0 disables.' })),
    idleColdMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 31_536_000_000, description: 'Idle time before going to disk; 0 disables.' })),
    keepHot: Type.Optional(Type.Boolean({ description: 'Never cool down.' })),
    host: Type.Optional(Type.Intersect([Name], { description: 'The fleet host to run it on; absent: the scheduler picks one that fits.' })),
    gpus: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description: 'NVIDIA GPUs: "all", a count such as "2", or UUIDs (GPU-…) comma-separated. Each is held by this sandbox alone.',
      }),
    ),
    diskMb: Type.Optional(DiskMb),
  },
  { additionalProperties: false },
);

export const MoveSandbox = Type.Object({ to: Name }, { additionalProperties: false });

export const MoveResult = Type.Object({
  sandbox: Sandbox,
  from: Type.String(),
  to: Type.String(),
  bytes: Type.Integer({ description: 'Snapshot size moved.' }),
  resumedBytes: Type.Integer({ description: 'Bytes a dropped transfer had already delivered (not sent again).' }),
  snapshotMs: Type.Number(),
  transferMs: Type.Number(),
  restoreMs: Type.Number(),
  totalMs: Type.Number(),
});

/** A sandbox handed to a host's agent (a move, or a restore there): its record and its ledger; the state is already in `dir`. */
export const ImportSandbox = Type.Object(
  {
    name: Name,
    image: Name,
    cpus: Nullable(Type.Number({ exclusiveMinimum: 0 })),
    memoryMb: Nullable(Type.Integer({ minimum: 16 })),
    pidsLimit: Type.Integer({ minimum: 1 }),
    network: NetworkMode,
    command: Type.Array(ArgText({ maxLength: 65536 }), { maxItems: 4096 }),
    env: Env,
    idleWarmMs: Nullable(Type.Integer({ minimum: 0 })),
    idleColdMs: Nullable(Type.Integer({ minimum: 0 })),
    keepHot: Type.Boolean(),
    gpus: Type.Integer({ minimum: 0, description: 'How many GPUs (of the model its GPU state was checkpointed on) it takes here.' }),
    diskMb: Type.Optional(Nullable(DiskMb, { description: 'Its writable layer keeps this limit here; null: none.' })),
    dir: Type.String({ pattern: '^[a-z0-9-]{1,64}$', description: "The state's directory under the agent's incoming/." }),
    execs: Type.Array(ExecRecord, { maxItems: 100000 }),
  },
  { additionalProperties: false },
);

export type SandboxT = Static<typeof Sandbox>;

export type CreateSandboxT = Static<typeof CreateSandbox>;

export type MoveResultT = Static<typeof MoveResult>;

export type ImportSandboxT = Static<typeof ImportSandbox>;

export const SandboxStats = Type.Object({
  at: Timestamp,
  status: SandboxStatus,
  thermal: Sandbox.properties.thermal,
  cpuUsageNs: Type.Number({ description: 'CPU time used by all its processes since it (re)started, in ns.' }),
  cpuPercent: Nullable(Type.Number({ description: '100 is one core busy; null on the first sample (no interval yet).' })),
  memoryBytes: Type.Number({ description: 'Working set: memory in use less the inactive file cache the kernel reclaims first.' }),
  memoryLimitBytes: Nullable(Type.Number(), { description: 'null: no limit.' }),
  pids: Type.Integer(),
});

export const StatsStreamQuery = Type.Object(
  { interval: Type.Optional(Type.Integer({ minimum: 250, maximum: 3_600_000, description: 'Milliseconds between samples; default 1000.' })) },
  { additionalProperties: false },
);

export type SandboxStatsT = Static<typeof SandboxStats>;
