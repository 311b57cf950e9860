import { Type, type Static, type TSchema } from 'typebox';
import { SnapshotStatus, SnapshotStoreStats, SnapshotUniqueBytes } from './schemas/snapshot-store.js';
export * from './schemas/snapshot-store.js';

/**
 * Every body the API takes or gives, once. These schemas validate requests,
 * type the handlers, document the API (OpenAPI) and type the client.
 */
/** T or null ("no limit", "not yet"). */
export const Nullable = <T extends TSchema>(t: T, options?: Parameters<typeof Type.Union>[1]) => Type.Union([Type.Null(), t], options);

export const NAME_PATTERN = '^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$';
export const Name = Type.String({ pattern: NAME_PATTERN, description: 'Lowercase letters, digits and dashes; a DNS label.' });

/**
 * Text that becomes a process argument, an environment variable or a path:
 * the kernel takes none of them with a NUL byte, so the schema refuses one
 * (a 400 that names the field) before it can reach a spawn.
 */
export const NO_NUL_PATTERN = '^[^\\u0000]*$';
export const ABSOLUTE_PATH_PATTERN = '^/[^\\u0000]*$';
/** What the patterns above mean, in words, for error messages. */
export const PATTERN_RULES: Readonly<Record<string, string>> = {
  [NO_NUL_PATTERN]: 'must not contain a NUL byte (\\0): no process argument, environment variable or path can hold one; remove it',
  [ABSOLUTE_PATH_PATTERN]: 'must be an absolute path (starting with /) with no NUL byte (\\0) in it',
};
const ArgText = (options: { maxLength: number; description?: string }) => Type.String({ ...options, pattern: NO_NUL_PATTERN });
const AbsolutePath = (options: { maxLength: number; description?: string }) => Type.String({ minLength: 1, ...options, pattern: ABSOLUTE_PATH_PATTERN });

const Env = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), ArgText({ maxLength: 65536 }), { description: 'Environment variables.' });
const Timestamp = Type.String({ format: 'date-time' });

export const SecretName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' });

export const NameParams = Type.Object({ name: Name }, { additionalProperties: false });

export const ErrorReply = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'Stable error code; see the error registry.' }),
  error: Type.String(),
  message: Type.String({ description: 'What went wrong and what to do next.' }),
});

export const Health = Type.Object({ status: Type.Literal('ok'), version: Type.String() });

export const SandboxStatus = Type.Union([
  Type.Literal('creating'),
  Type.Literal('running'),
  Type.Literal('stopped'),
  Type.Literal('exited'),
  Type.Literal('snapshotted'),
  Type.Literal('error'),
  Type.Literal('moving'),
  Type.Literal('unknown'),
]);

const NetworkMode = Type.Union([Type.Literal('default'), Type.Literal('peers'), Type.Literal('none')], {
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
  thermal: Type.Union([Type.Literal('hot'), Type.Literal('warm'), Type.Literal('cold')], { description: 'hot: running; warm: frozen in place; cold: on disk, processes gone.' }),
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

export const ExecRequest = Type.Object(
  {
    command: Type.Array(ArgText({ maxLength: 131072 }), { minItems: 1, maxItems: 4096 }),
    env: Type.Optional(Env),
    workdir: Type.Optional(AbsolutePath({ maxLength: 4096 })),
    stdin: Type.Optional(Type.String({ maxLength: 16 * 1024 * 1024, description: 'Written to the command, then closed.' })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
  },
  { additionalProperties: false },
);

export const ExecResult = Type.Object({
  id: Type.String({ description: "The command's id in the exec ledger, which keeps its whole output (`execLogs`)." }),
  exitCode: Type.Integer({ description: 'Exit code; 128+N when killed by signal N.' }),
  signal: Nullable(Type.Integer()),
  stdout: Type.String(),
  stderr: Type.String(),
  truncated: Type.Boolean({ description: 'Output beyond the reply limit was dropped.' }),
  oomKilled: Type.Boolean({ description: 'The kernel killed a process of the sandbox for exceeding --memory.' }),
  timedOut: Type.Boolean(),
  durationMs: Type.Number(),
});

export const ExecStart = Type.Object(
  {
    command: ExecRequest.properties.command,
    env: Type.Optional(Env),
    workdir: Type.Optional(AbsolutePath({ maxLength: 4096 })),
    tty: Type.Optional(Type.Object({ rows: Type.Integer({ minimum: 1, maximum: 1000 }), cols: Type.Integer({ minimum: 1, maximum: 1000 }) })),
  },
  { additionalProperties: false },
);

export const LogsQuery = Type.Object(
  {
    offset: Type.Optional(Type.Integer({ minimum: 0, description: 'Byte offset to read from; the reply says the next one.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024 })),
    follow: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ExecParams = Type.Object(
  { name: Name, id: Type.String({ pattern: '^[0-9a-f]{8}$', description: 'Exec id, as `bothub ps` shows it.' }) },
  { additionalProperties: false },
);

export const ExecBackground = Type.Object(
  {
    command: ExecRequest.properties.command,
    env: Type.Optional(Env),
    workdir: Type.Optional(AbsolutePath({ maxLength: 4096 })),
  },
  { additionalProperties: false },
);

export const ExecRecord = Type.Object({
  id: Type.String(),
  command: Type.Array(Type.String()),
  workdir: Type.String(),
  actor: Type.String({ description: 'Who ran it.' }),
  tty: Type.Boolean(),
  detached: Type.Boolean({ description: 'Started with `exec -d`: runs on with no client.' }),
  status: Type.Union([Type.Literal('running'), Type.Literal('exited'), Type.Literal('killed'), Type.Literal('lost')], {
    description: 'lost: its sandbox stopped under it, or the daemon stopped during a foreground command.',
  }),
  startedAt: Timestamp,
  endedAt: Nullable(Timestamp),
  exitCode: Nullable(Type.Integer()),
  signal: Nullable(Type.Integer()),
  outputBytes: Nullable(Type.Integer(), { description: 'Its output is bytes [0, outputBytes) of its log; null while it runs.' }),
  pid: Type.Optional(Nullable(Type.Integer(), { description: "In the sandbox's PID namespace (a detached command leads its process group)." })),
});

export const KillExec = Type.Object(
  { signal: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 64 }), Type.String({ pattern: '^(SIG)?[A-Z0-9]{2,8}$' })])) },
  { additionalProperties: false },
);

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

export const ProgressEvent = Type.Object({
  step: Type.String(),
  message: Type.Optional(Type.String()),
  done: Type.Optional(Type.Number()),
  total: Type.Optional(Type.Number()),
});

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

export const Snapshot = Type.Object({
  id: Type.String(),
  name: Type.String(),
  sandbox: Type.String({ description: 'The sandbox it was taken of.' }),
  sizeBytes: Type.Integer(),
  leaveRunning: Type.Boolean(),
  createdAt: Timestamp,
  status: SnapshotStatus,
  uniqueBytes: Type.Optional(SnapshotUniqueBytes),
  frozenMs: Type.Optional(Type.Number({ description: 'How long the sandbox was frozen while the snapshot was taken.' })),
  encrypted: Type.Optional(Type.Boolean({ description: 'Encrypted at rest (AES-256-GCM): the sandbox held secrets.' })),
  host: Type.Optional(
    Type.Object(
      { kernel: Type.String(), arch: Type.String(), cpuModel: Type.String(), criuVersion: Type.String(), runcVersion: Type.String() },
      { description: 'The host that wrote it.' },
    ),
  ),
});

export const CreateSnapshot = Type.Object(
  {
    name: Name,
    leaveRunning: Type.Optional(Type.Boolean({ description: 'Keep the sandbox running; otherwise it stops, snapshotted.' })),
  },
  { additionalProperties: false },
);

export const RestoreSnapshot = Type.Object(
  {
    name: Type.Optional(Type.Intersect([Name], { description: "Branch a new sandbox with this name; absent: resume the snapshot's own sandbox." })),
    host: Type.Optional(Type.Intersect([Name], { description: 'Restore it on this fleet host (checked by the compatibility gate); absent: where the snapshot is.' })),
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

export const SnapshotListQuery = Type.Object({ sandbox: Type.Optional(Name) }, { additionalProperties: false });

export const Doctor = Type.Object({
  kernel: Type.String(),
  cgroup: Type.String(),
  runc: Type.Object({ path: Type.String(), version: Type.String() }),
  criu: Type.Object({
    path: Type.String(),
    version: Type.String(),
    check: Type.Boolean(),
    output: Type.String(),
    memoryTracking: Type.Boolean({ description: 'Incremental dumps possible (soft-dirty tracking).' }),
  }),
  capabilities: Type.Array(Type.String()),
  snapshots: Type.Object({ available: Type.Boolean(), detail: Type.String() }),
  store: Type.Optional(SnapshotStoreStats),
});

export const ConsistencyQuery = Type.Object(
  { deep: Type.Optional(Type.Boolean({ description: 'Also restore every snapshot as a throw-away branch, to prove it restores.' })) },
  { additionalProperties: false },
);

export const ConsistencyProblem = Type.Object({
  host: Type.String({ description: '"local", or the fleet host whose agent found it.' }),
  kind: Type.String({ description: 'What is wrong: record-mismatch, orphan-container, orphan-mount, orphan-netns, orphan-veth, orphan-cgroup, orphan-rule, orphan-dir, orphan-sandbox (on a fleet host), damaged-snapshot, unrestorable-snapshot, host-unreachable.' }),
  subject: Type.String({ description: 'The sandbox, snapshot, path or kernel object concerned.' }),
  detail: Type.String(),
  fix: Type.String({ description: 'What to do about it.' }),
});

export const ConsistencyReport = Type.Object({
  ok: Type.Boolean(),
  checked: Type.Object({ sandboxes: Type.Integer(), snapshots: Type.Integer(), restored: Type.Integer({ description: 'Snapshots restored as a throw-away branch (--deep).' }), hosts: Type.Integer() }),
  skipped: Type.Array(Type.String(), { description: 'Sandboxes left out because an operation on them was in flight.' }),
  problems: Type.Array(ConsistencyProblem),
});

const Quota = Type.Object(
  {
    maxSandboxes: Nullable(Type.Integer({ minimum: 0 })),
    maxMemoryMb: Nullable(Type.Integer({ minimum: 0 })),
    maxSnapshotBytes: Nullable(Type.Integer({ minimum: 0 })),
    maxDiskMb: Nullable(Type.Integer({ minimum: 0, description: "MB of all their sandboxes' writable layers together (each counts its --disk)." })),
    maxGpus: Nullable(Type.Integer({ minimum: 0, description: 'GPUs their running sandboxes hold at once.' })),
  },
  { description: 'null: no limit.' },
);

export const User = Type.Object({ name: Type.String(), admin: Type.Boolean(), createdAt: Timestamp, quota: Quota });

export const CreateUser = Type.Object({ name: Name, quota: Type.Optional(Type.Partial(Quota, { additionalProperties: false })) }, { additionalProperties: false });

export const UserKey = Type.Object({ user: User, key: Type.String({ description: 'The API key; shown once, never again.' }) });

export const RemoveUserQuery = Type.Object(
  { force: Type.Optional(Type.Boolean({ description: 'Destroy the sandboxes and snapshots the user owns.' })) },
  { additionalProperties: false },
);

export const SecretParams = Type.Object({ name: SecretName }, { additionalProperties: false });
export const Secret = Type.Object({ name: Type.String(), createdAt: Timestamp, updatedAt: Timestamp });
export const SetSecret = Type.Object({ value: ArgText({ maxLength: 65536, description: 'Exposed to sandboxes as an environment variable.' }) }, { additionalProperties: false });

export const WhoAmI = Type.Object({ name: Type.String(), admin: Type.Boolean() });

export const Event = Type.Object({
  id: Type.Integer({ description: 'Increasing; resume a stream with ?after=<the last id seen>.' }),
  sandbox: Type.String(),
  type: Type.String({
    description:
      'created, destroyed, moved (detail "from A to B"), a new status (running, stopped, exited, error, snapshotted, moving; detail the reason), warm, cold, woke, wake-failed, published, unpublished, shared.',
  }),
  detail: Nullable(Type.String()),
  at: Timestamp,
});
export const EventsQuery = Type.Object({ sandbox: Type.Optional(Name), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })) }, { additionalProperties: false });
export const Publish = Type.Object(
  { port: Type.Integer({ minimum: 1, maximum: 65535 }), public: Type.Optional(Type.Boolean({ description: "Open to anyone; otherwise the owner's key is needed." })) },
  { additionalProperties: false },
);
export const PortParams = Type.Object({ name: Name, port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false });

export const CreateShare = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 86400, description: 'How long the link works; default one hour.' })),
  },
  { additionalProperties: false },
);
export const Share = Type.Object({ id: Type.String(), port: Type.Integer(), expiresAt: Timestamp, revoked: Type.Boolean() });
export const ShareLink = Type.Object({ share: Share, url: Type.String({ description: 'Works without a key until it expires or is revoked.' }), pathUrl: Type.String() });
export const ShareParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{12}$' }) }, { additionalProperties: false });

export type ShareT = Static<typeof Share>;
export type EventT = Static<typeof Event>;
export type UserT = Static<typeof User>;
export type CreateUserT = Static<typeof CreateUser>;
export type SecretT = Static<typeof Secret>;
export type SnapshotT = Static<typeof Snapshot>;
export type DoctorT = Static<typeof Doctor>;
export type ConsistencyReportT = Static<typeof ConsistencyReport>;
export type ConsistencyProblemT = Static<typeof ConsistencyProblem>;
export type SandboxT = Static<typeof Sandbox>;
export type CreateSandboxT = Static<typeof CreateSandbox>;
export type ExecRequestT = Static<typeof ExecRequest>;
export type ExecResultT = Static<typeof ExecResult>;
export type ExecStartT = Static<typeof ExecStart>;
export type ExecBackgroundT = Static<typeof ExecBackground>;
export type ImageT = Static<typeof Image>;
export type PushResultT = Static<typeof PushResult>;
export type RegistryCredentialT = Static<typeof RegistryCredential>;
export type HostT = Static<typeof Host>;
export type AddHostT = Static<typeof AddHost>;
export type HostVerdictT = Static<typeof HostVerdict>;
export type ExecRecordT = Static<typeof ExecRecord>;
export type FileStatT = Static<typeof FileStat>;
export type FileEntryT = Static<typeof FileEntry>;
export type ProgressEventT = Static<typeof ProgressEvent>;
export type MoveResultT = Static<typeof MoveResult>;
export type ImportSandboxT = Static<typeof ImportSandbox>;

/* The web dashboard: a sign-in session, live events, resource use. */

export const CreateSession = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 512, description: 'An API key; it is checked once and never stored in the session.' }) },
  { additionalProperties: false },
);
export const WebSession = Type.Object({
  user: WhoAmI,
  csrfToken: Type.String({ description: 'Send as header X-Bothub-CSRF on every call that changes state (not GET/HEAD) made with the session cookie.' }),
  expiresAt: Timestamp,
});

export const EventsStreamQuery = Type.Object(
  {
    sandbox: Type.Optional(Name),
    after: Type.Optional(Type.Integer({ minimum: 0, description: 'Send the events after this id first (the backlog), then live ones; absent: live ones only.' })),
  },
  { additionalProperties: false },
);

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

export type WebSessionT = Static<typeof WebSession>;
export type SandboxStatsT = Static<typeof SandboxStats>;
