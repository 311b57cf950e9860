import { Type, type Static, type TSchema } from 'typebox';
import * as S from './schemas.js';
import { AttachSocket, ExecSocket } from './exec-socket.js';
import { EventsSocket, StatsSocket } from './dashboard-sockets.js';
import type { SocketDef } from './socket-def.js';
import { providerRoutes } from './routes/providers.js';

/**
 * The route table. The daemon registers exactly these routes, with these
 * schemas, and must give each a handler; the OpenAPI document and the client
 * come from the same table.
 */
interface RouteBase {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  summary: string;
  params?: TSchema;
  query?: TSchema;
  body?: TSchema;
  /** JSON reply schema; absent for routes that stream (see `stream`). */
  reply?: TSchema;
  status?: number;
  /** Who may call it: anyone, any user with a key (the default), or the admin only. */
  auth?: 'none' | 'user' | 'admin';
  /** A client's default time limit for this route when it is longer than the usual one (the first create builds the image). */
  timeoutMs?: number;
}

/** For routes that may checkpoint, restore, build an image or install an agent: minutes, not seconds. */
const LONG_MS = 30 * 60_000;
/**
 * A route answered with JSON, or streamed: raw bytes, NDJSON progress, or an
 * upload (the request body is the stream). A WebSocket route also says what
 * its messages are, both ways (`socket`).
 */
export type RouteDef = RouteBase & ({ stream?: 'bytes' | 'ndjson' | 'upload'; socket?: never } | { stream: 'websocket'; socket: SocketDef });

export const routes = {
  ...providerRoutes,
  health: { method: 'GET', url: '/api/v1/health', summary: 'Liveness; needs no key.', reply: S.Health, auth: 'none' },
  whoami: { method: 'GET', url: '/api/v1/whoami', summary: 'The user the API key belongs to.', reply: S.WhoAmI },

  createSession: {
    method: 'POST',
    url: '/api/v1/session',
    summary:
      'Sign in with an API key (the web dashboard): sets an HttpOnly, SameSite=Strict session cookie; calls that change state with it need header X-Bothub-CSRF: <csrfToken>.',
    body: S.CreateSession,
    reply: S.WebSession,
    auth: 'none',
  },
  getSession: { method: 'GET', url: '/api/v1/session', summary: 'The signed-in session, with its CSRF token.', reply: S.WebSession },
  deleteSession: { method: 'DELETE', url: '/api/v1/session', summary: 'Sign out: ends the session and clears its cookie.', status: 204 },

  listUsers: { method: 'GET', url: '/api/v1/users', summary: 'List users (admin).', reply: Type.Array(S.User), auth: 'admin' },
  createUser: {
    method: 'POST',
    url: '/api/v1/users',
    summary: 'Create a user; the reply holds its API key, shown once (admin).',
    body: S.CreateUser,
    reply: S.UserKey,
    status: 201,
    auth: 'admin',
  },
  rotateUserKey: {
    method: 'POST',
    url: '/api/v1/users/:name/rotate-key',
    summary: "Replace a user's API key; the old one stops working (admin).",
    params: S.NameParams,
    reply: S.UserKey,
    auth: 'admin',
  },
  removeUser: {
    method: 'DELETE',
    url: '/api/v1/users/:name',
    summary: 'Remove a user; refused while it owns sandboxes unless ?force=true (admin).',
    params: S.NameParams,
    query: S.RemoveUserQuery,
    status: 204,
    auth: 'admin',
  },

  listSecrets: { method: 'GET', url: '/api/v1/secrets', summary: 'Your secrets, names only.', reply: Type.Array(S.Secret) },
  setSecret: {
    method: 'PUT',
    url: '/api/v1/secrets/:name',
    summary: 'Set a secret; its value is sealed at rest and never shown again.',
    params: S.SecretParams,
    body: S.SetSecret,
    reply: S.Secret,
  },
  removeSecret: { method: 'DELETE', url: '/api/v1/secrets/:name', summary: 'Remove a secret.', params: S.SecretParams, status: 204 },

  listSandboxes: { method: 'GET', url: '/api/v1/sandboxes', summary: 'List sandboxes.', reply: Type.Array(S.Sandbox) },
  createSandbox: {
    method: 'POST',
    url: '/api/v1/sandboxes',
    summary: 'Create and start a sandbox; answers once it is ready to exec.',
    body: S.CreateSandbox,
    reply: S.Sandbox,
    status: 201,
    timeoutMs: LONG_MS,
  },
  getSandbox: { method: 'GET', url: '/api/v1/sandboxes/:name', summary: 'Inspect a sandbox.', params: S.NameParams, reply: S.Sandbox },
  stopSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/stop', summary: 'Stop every process; the files stay.', params: S.NameParams, reply: S.Sandbox },
  startSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/start', summary: 'Start a stopped sandbox.', params: S.NameParams, reply: S.Sandbox, timeoutMs: LONG_MS },
  destroySandbox: { method: 'DELETE', url: '/api/v1/sandboxes/:name', summary: 'Remove a sandbox and everything it holds.', params: S.NameParams, status: 204 },

  pauseSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/pause', summary: 'Freeze in place (warm): no CPU, memory kept.', params: S.NameParams, reply: S.Sandbox },
  resumeSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/resume', summary: 'Wake a warm or cold sandbox.', params: S.NameParams, reply: S.Sandbox, timeoutMs: LONG_MS },
  freezeSandbox: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/freeze',
    summary: 'Put to disk now (cold): processes gone, memory free; the next request wakes it.',
    params: S.NameParams,
    reply: S.Sandbox,
    timeoutMs: LONG_MS,
  },
  eventsStream: {
    method: 'GET',
    url: '/api/v1/events/ws',
    summary: 'WebSocket: every new event you may see, as JSON text messages (the Event schema), in order with no gaps; ?after=ID sends the backlog first.',
    query: S.EventsStreamQuery,
    stream: 'websocket',
    socket: EventsSocket,
  },
  listEvents: { method: 'GET', url: '/api/v1/events', summary: 'State changes of sandboxes, oldest first; ?sandbox= for one.', query: S.EventsQuery, reply: Type.Array(S.Event) },
  sandboxStats: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/stats',
    summary: "CPU, memory and processes from the sandbox's cgroup; zeros (with its state) when it has no processes (stopped, cold).",
    params: S.NameParams,
    reply: S.SandboxStats,
  },
  sandboxStatsStream: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/stats/ws',
    summary: 'WebSocket: a SandboxStats JSON message every ?interval ms (default 1000, at least 250).',
    params: S.NameParams,
    query: S.StatsStreamQuery,
    stream: 'websocket',
    socket: StatsSocket,
  },
  publish: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/publish',
    summary: 'Serve a port of the sandbox at a preview URL.',
    params: S.NameParams,
    body: S.Publish,
    reply: S.Sandbox,
  },
  unpublish: { method: 'DELETE', url: '/api/v1/sandboxes/:name/publish/:port', summary: 'Stop serving a port.', params: S.PortParams, reply: S.Sandbox },

  createShare: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/shares',
    summary: 'A signed, expiring, revocable link to a private preview.',
    params: S.NameParams,
    body: S.CreateShare,
    reply: S.ShareLink,
    status: 201,
  },
  listShares: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/shares',
    summary: "A sandbox's share links (the tokens are not shown again).",
    params: S.NameParams,
    reply: Type.Array(S.Share),
  },
  revokeShare: { method: 'DELETE', url: '/api/v1/shares/:id', summary: 'Revoke a share link.', params: S.ShareParams, status: 204 },

  exec: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/exec',
    summary: 'Run a command to completion and return its output.',
    params: S.NameParams,
    body: S.ExecRequest,
    reply: S.ExecResult,
    // A command runs as long as it runs: its own timeoutMs bounds it, and the caller's signal still cancels.
    timeoutMs: 0,
  },
  execStream: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/exec/ws',
    summary:
      'WebSocket: first message an ExecStart (JSON); then binary frames tagged 0 stdin / 1 stdout / 2 stderr, and JSON control messages (eof, resize, signal; started, exit, error). Messages are in x-websocket; one that does not fit gets an `error` message and close 1008.',
    params: S.NameParams,
    stream: 'websocket',
    socket: ExecSocket,
  },
  logs: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/logs',
    summary:
      'Console output from a byte offset (application/octet-stream). X-Bothub-Offset is where the bytes start; X-Bothub-Next-Offset, sent unless following, is where to read next.',
    params: S.NameParams,
    query: S.LogsQuery,
    stream: 'bytes',
  },

  startExec: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/execs',
    summary: 'Start a command in the background (`exec -d`); it runs on with no client. Its output goes to its own log.',
    params: S.NameParams,
    body: S.ExecBackground,
    reply: S.ExecRecord,
    status: 201,
  },
  listExecs: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/execs',
    summary: 'The exec ledger: every command run in the sandbox, oldest first.',
    params: S.NameParams,
    reply: Type.Array(S.ExecRecord),
  },
  getExec: { method: 'GET', url: '/api/v1/sandboxes/:name/execs/:id', summary: 'One command of the ledger.', params: S.ExecParams, reply: S.ExecRecord },
  killExec: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/execs/:id/kill',
    summary: "Send a signal (default SIGTERM) to a running command's process group.",
    params: S.ExecParams,
    body: S.KillExec,
    reply: S.ExecRecord,
  },
  execLogs: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/execs/:id/logs',
    summary: "A command's output from a byte offset (application/octet-stream), with the same headers as the console log.",
    params: S.ExecParams,
    query: S.LogsQuery,
    stream: 'bytes',
  },
  attachExec: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/execs/:id/attach',
    summary: 'WebSocket: re-join a running interactive command. First the recent screen (scrollback), then the same frames as exec/ws.',
    params: S.ExecParams,
    stream: 'websocket',
    socket: AttachSocket,
  },

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

  listHosts: { method: 'GET', url: '/api/v1/hosts', summary: 'The fleet: this machine ("local") and the hosts added over SSH.', reply: Type.Array(S.Host) },
  addHost: {
    method: 'POST',
    url: '/api/v1/hosts',
    summary: 'Add a host over SSH: pins its host key, checks it can run and checkpoint sandboxes, records its fingerprint (admin).',
    body: S.AddHost,
    reply: S.Host,
    status: 201,
    auth: 'admin',
    timeoutMs: LONG_MS,
  },
  getHost: { method: 'GET', url: '/api/v1/hosts/:name', summary: 'One host with its fingerprint.', params: S.NameParams, reply: S.Host },
  checkHost: {
    method: 'POST',
    url: '/api/v1/hosts/:name/check',
    summary: 'Reconnect (pinned key) and refresh the fingerprint (admin).',
    params: S.NameParams,
    reply: S.Host,
    auth: 'admin',
    timeoutMs: LONG_MS,
  },
  removeHost: { method: 'DELETE', url: '/api/v1/hosts/:name', summary: 'Forget a host; refused while it has sandboxes (admin).', params: S.NameParams, status: 204, auth: 'admin' },
  snapshotHosts: {
    method: 'GET',
    url: '/api/v1/snapshots/:name/hosts',
    summary: 'Every host with the compatibility gate’s verdict for restoring this snapshot there, and every reason when not.',
    params: S.NameParams,
    reply: Type.Array(S.HostVerdict),
  },

  createSnapshot: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/snapshots',
    summary: 'Checkpoint a running sandbox: processes, memory, files (NDJSON progress, last line the snapshot).',
    params: S.NameParams,
    body: S.CreateSnapshot,
    stream: 'ndjson',
  },
  listSnapshots: { method: 'GET', url: '/api/v1/snapshots', summary: 'List snapshots, of one sandbox with ?sandbox=.', query: S.SnapshotListQuery, reply: Type.Array(S.Snapshot) },
  getSnapshot: { method: 'GET', url: '/api/v1/snapshots/:name', summary: 'Inspect a snapshot.', params: S.NameParams, reply: S.Snapshot },
  deleteSnapshot: { method: 'DELETE', url: '/api/v1/snapshots/:name', summary: 'Delete a snapshot.', params: S.NameParams, status: 204 },
  restoreSnapshot: {
    method: 'POST',
    url: '/api/v1/snapshots/:name/restore',
    summary: "Resume the snapshot's sandbox, or branch a new one with {name} (NDJSON progress, last line the sandbox).",
    params: S.NameParams,
    body: S.RestoreSnapshot,
    stream: 'ndjson',
  },
  moveSandbox: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/move',
    summary:
      'Move a sandbox to another host: checkpoint, checksummed resumable transfer, restore, check, then remove the source; any failure leaves it running on the source (NDJSON progress, last line the result).',
    params: S.NameParams,
    body: S.MoveSandbox,
    stream: 'ndjson',
  },
  importSandbox: {
    method: 'POST',
    url: '/api/v1/sandboxes/import',
    summary: "Take over a sandbox whose checkpoint was copied into this daemon's incoming/ directory, and restore it (admin; the control plane calls it on agents).",
    body: S.ImportSandbox,
    reply: S.Sandbox,
    status: 201,
    auth: 'admin',
    timeoutMs: LONG_MS,
  },
  doctorConsistency: {
    method: 'GET',
    url: '/api/v1/doctor/consistency',
    summary:
      'Compares the records with what runs on each host: containers, mounts, network namespaces, veths, cgroups, rules, directories and snapshot files; one entry per problem, with what to do (admin).',
    query: S.ConsistencyQuery,
    reply: S.ConsistencyReport,
    auth: 'admin',
  },
  doctor: { method: 'GET', url: '/api/v1/doctor', summary: 'What this host can do: kernel, runc, CRIU, capabilities, snapshots.', reply: S.Doctor },

  listImages: { method: 'GET', url: '/api/v1/images', summary: 'List images.', reply: Type.Array(S.Image) },
  getImage: { method: 'GET', url: '/api/v1/images/:name', summary: 'Inspect an image.', params: S.NameParams, reply: S.Image },
  buildImage: {
    method: 'POST',
    url: '/api/v1/images/:name/build',
    summary: 'Build the default image "debian" (NDJSON progress, last line the image).',
    params: S.NameParams,
    stream: 'ndjson',
  },
  importImage: {
    method: 'POST',
    url: '/api/v1/images',
    summary: 'Import a rootfs tarball or `docker save` archive sent as the body (NDJSON progress, last line the image).',
    query: S.ImportImageQuery,
    stream: 'upload',
  },
  removeImage: { method: 'DELETE', url: '/api/v1/images/:name', summary: 'Remove an image no sandbox uses; frees the layers no other image uses.', params: S.NameParams, status: 204 },
  pullImage: {
    method: 'POST',
    url: '/api/v1/images/pull',
    summary: "Pull an image from an OCI or Docker registry with your credentials for its host (NDJSON progress in bytes, last line the image).",
    body: S.PullImage,
    stream: 'ndjson',
    timeoutMs: LONG_MS,
  },
  saveImage: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/save-image',
    summary: "Save a sandbox's files as a new image: its writable layer, copied while frozen, on top of its image's layers (NDJSON progress, last line the image).",
    params: S.NameParams,
    body: S.SaveImage,
    stream: 'ndjson',
    timeoutMs: LONG_MS,
  },
  pushImage: {
    method: 'POST',
    url: '/api/v1/images/:name/push',
    summary: 'Push an image to a registry with your credentials for its host (NDJSON progress, last line {reference, digest}).',
    params: S.NameParams,
    body: S.PushImage,
    stream: 'ndjson',
    timeoutMs: LONG_MS,
  },
  exportImage: {
    method: 'GET',
    url: '/api/v1/images/:name/export',
    summary: 'The image as an OCI archive (application/x-tar), for `image import` here or `skopeo copy oci-archive:FILE …` anywhere.',
    params: S.NameParams,
    stream: 'bytes',
    timeoutMs: LONG_MS,
  },

  listRegistries: { method: 'GET', url: '/api/v1/registries', summary: 'Registries you are logged in to (no passwords).', reply: Type.Array(S.RegistryCredential) },
  registryLogin: {
    method: 'PUT',
    url: '/api/v1/registries/:host',
    summary: 'Store your credentials for a registry host, sealed at rest; pulls and pushes to that host use them.',
    params: S.RegistryHostParams,
    body: S.RegistryLogin,
    reply: S.RegistryCredential,
  },
  registryLogout: { method: 'DELETE', url: '/api/v1/registries/:host', summary: 'Forget your credentials for a registry host.', params: S.RegistryHostParams, status: 204 },
} as const satisfies Record<string, RouteDef>;

export type Routes = typeof routes;
export type RouteName = keyof Routes;

type StaticOr<T, F> = T extends TSchema ? Static<T> : F;
export type ParamsOf<K extends RouteName> = StaticOr<Routes[K] extends { params: infer P } ? P : undefined, undefined>;
export type QueryOf<K extends RouteName> = StaticOr<Routes[K] extends { query: infer Q } ? Q : undefined, undefined>;
export type BodyOf<K extends RouteName> = StaticOr<Routes[K] extends { body: infer B } ? B : undefined, undefined>;
export type ReplyOf<K extends RouteName> = StaticOr<Routes[K] extends { reply: infer R } ? R : undefined, void>;

/** Routes answered with one JSON body (or none), as opposed to streams. */
export type JsonRouteName = { [K in RouteName]: Routes[K] extends { stream: string } ? never : K }[RouteName];
export type StreamRouteName = Exclude<RouteName, JsonRouteName>;
export type SocketRouteName = { [K in RouteName]: Routes[K] extends { stream: 'websocket' } ? K : never }[RouteName];
/** Streams over HTTP (bytes, NDJSON, uploads), as opposed to WebSockets. */
export type HttpStreamRouteName = Exclude<StreamRouteName, SocketRouteName>;
export type UploadRouteName = { [K in RouteName]: Routes[K] extends { stream: 'upload' } ? K : never }[RouteName];

type SocketOf<K extends SocketRouteName> = Routes[K]['socket'];
/** The first message a socket route's client sends (undefined: it sends none). */
export type SocketStartOf<K extends SocketRouteName> = StaticOr<SocketOf<K> extends { start: infer T } ? T : undefined, undefined>;
/** The text messages a socket route's client sends after the start. */
export type ClientMessageOf<K extends SocketRouteName> = StaticOr<SocketOf<K> extends { client: infer T } ? T : undefined, never>;
/** The text messages the daemon sends on a socket route. */
export type ServerMessageOf<K extends SocketRouteName> = Static<SocketOf<K>['server']>;

export { routeUrl } from './route-url.js';
