import type { Generated } from 'kysely';
import type { NetworkMode, SandboxStatus, ThermalState } from '../../core/index.js';

export interface SandboxRow {
  id: string;
  name: string;
  image: string;
  status: SandboxStatus;
  status_reason: string | null;
  cpus: number | null;
  memory_mb: number | null;
  pids_limit: number;
  network: NetworkMode;
  address: string | null;
  command_json: string;
  env_json: string;
  created_at: string;
  started_at: string | null;
  updated_at: string;
  snapshot_id: string | null;
  owner_id: string | null;
  /** Names of the owner's secrets exposed as environment variables; values are never stored here. */
  secrets_json: string;
  /** hot (running), warm (frozen in place), cold (on disk, processes gone). */
  thermal: ThermalState;
  /** null: the daemon's default; 0: never. */
  idle_warm_ms: number | null;
  idle_cold_ms: number | null;
  keep_hot: number;
  last_active_at: string | null;
  /** Where it runs: 'local', or a fleet host whose agent holds the runtime's own record of it. */
  host: string;
  /** How many NVIDIA GPUs it has. */
  gpus: number;
  /** Their UUIDs: held while it runs, released (and claimed again on waking) while it sleeps or is stopped. */
  gpu_uuids_json: string;
  /** Size limit of its writable layer, MB; null: none (records from before limits, or BOTHUB_DISK=0). */
  disk_mb: number | null;
}

export interface PublicationRow {
  sandbox_id: string;
  port: number;
  public: number;
  created_at: string;
}

export interface ShareRow {
  id: string;
  sandbox_id: string;
  port: number;
  owner_id: string | null;
  expires_at: string;
  revoked: number;
  created_at: string;
}

export interface EventRow {
  id: Generated<number>;
  sandbox_id: string;
  sandbox_name: string;
  owner_id: string | null;
  type: string;
  detail: string | null;
  at: string;
}

export interface UserRow {
  id: string;
  name: string;
  admin: number;
  key_id: string;
  key_hash: string;
  max_sandboxes: number | null;
  max_memory_mb: number | null;
  max_snapshot_bytes: number | null;
  /** Disk of all their sandboxes' writable layers together, MB. */
  max_disk_mb: number | null;
  /** GPUs their running sandboxes hold at once. */
  max_gpus: number | null;
  created_at: string;
}

export interface SecretRow {
  owner_id: string;
  name: string;
  /** iv (12) | tag (16) | AES-256-GCM ciphertext */
  ciphertext: Buffer;
  created_at: string;
  updated_at: string;
}

export interface RegistryCredentialRow {
  owner_id: string;
  /** Registry host as references name it (docker.io, ghcr.io, 127.0.0.1:5000). */
  host: string;
  username: string;
  /** The password, sealed (iv | tag | AES-256-GCM) with context owner+host. */
  password_sealed: Buffer;
  created_at: string;
}

export interface SnapshotRow {
  id: string;
  name: string;
  sandbox_id: string;
  sandbox_name: string;
  size_bytes: number;
  leave_running: number;
  created_at: string;
  owner_id: string | null;
  /** 'saving' until its durable copy is synced, then 'ready'. */
  status: SnapshotStatus;
  /** 'local': this daemon's store keeps its files; else the fleet host whose agent took it and keeps them. */
  host: string;
  /** Kept by a fleet host: its sandbox's spec when it was taken (travellingSpec), what a branch of it is recorded with. */
  spec_json: string | null;
}

export type SnapshotStatus = 'saving' | 'ready';

/** A chunk of the snapshot store one snapshot uses (chunk-store.ts): its reference. */
export interface SnapshotChunkRow {
  snapshot_id: string;
  hash: string;
  size: number;
}

/** A chunk a cold image uses (cold-images.ts): its reference. */
export interface ColdChunkRow {
  sandbox_id: string;
  hash: string;
  size: number;
}

/** An image layer's archive in the store (layer-archives.ts): what a fleet host reads to have the layer. */
export interface LayerArchiveRow {
  layer_id: string;
  size: number;
  sha256: string;
  /** Its chunks, in order (JSON array of sha256 names). */
  chunks_json: string;
  created_at: string;
}

/** An image every daemon on the database sees (BOTHUB_STORE, shared-images.ts): its description, its layers' archives in layer_archives. */
export interface SharedImageRow {
  name: string;
  /** Its owner's user id; null: shared with everyone. */
  owner: string | null;
  /** The ImageInfo, its `layers` the archived ones (JSON). */
  info_json: string;
  created_at: string;
  /** When it was removed (the row stays so that copies of it elsewhere are known to be gone); null while it is an image. */
  removed_at: string | null;
}

/** A chunk a layer archive uses: its reference. */
export interface LayerChunkRow {
  layer_id: string;
  hash: string;
  size: number;
}

/** A manifest kept as an object in the store (BOTHUB_STORE): `manifests/<snapshot id>.json` or `cold/<sandbox id>.json`. */
export interface StoredManifestRow {
  key: string;
  /** Of the object's bytes: a fetched manifest is checked against it. */
  sha256: string;
  size: number;
}

/** A cold image kept as chunks: its logical size. */
export interface ColdImageRow {
  sandbox_id: string;
  size_bytes: number;
  created_at: string;
}

/** A chunk nothing references, kept for transfers (host-chunk-cache.ts). */
export interface ChunkCacheRow {
  hash: string;
  size: number;
  cached_at: string;
}

/** One command run in a sandbox: the exec ledger. */
export interface ExecRow {
  sandbox_id: string;
  id: string;
  command_json: string;
  cwd: string;
  /** Who ran it (user name, or "system"). */
  actor: string;
  tty: number;
  detached: number;
  /** running, exited, killed (by a signal), lost (its sandbox stopped, or the daemon died under a foreground command). */
  status: string;
  started_at: string;
  ended_at: string | null;
  exit_code: number | null;
  signal: number | null;
  /** Size of its output log, bytes [0, output_bytes); null while running. */
  output_bytes: number | null;
  /** In the sandbox's PID namespace; a detached command leads its own process group. */
  pid: number | null;
}

/** A fleet host reached over SSH; the daemon's own machine is the implicit host "local". */
export interface HostRow {
  name: string;
  address: string;
  port: number;
  username: string;
  /** The SSH private key, sealed like a secret (iv | tag | ciphertext). */
  key_sealed: Buffer;
  /** Pinned on first use (OpenSSH SHA256 form); any other key is refused. */
  host_key: string;
  fingerprint_json: string;
  /** reachable or unreachable (heartbeats). */
  status: string;
  status_reason: string | null;
  last_seen_at: string | null;
  created_at: string;
  /** The agent's data directory there. */
  data_dir: string;
  /** The agent's API key (its admin key), sealed; null until the agent first started. */
  agent_key_sealed: Buffer | null;
}

/** A dashboard sign-in; the cookie holds the id, this table only its hash. */
export interface WebSessionRow {
  id_hash: string;
  user_id: string;
  /** The user's key id when the session opened: a rotated key ends the session. */
  key_id: string;
  csrf_token: string;
  created_at: string;
  /** Slides forward with use. */
  expires_at: string;
}

export interface ProviderRow {
  name: string;
  key_sealed: Buffer;
  base_url: string | null;
  created_at: string;
}

export interface RentalRow {
  id: string;
  provider: string;
  offer_id: string;
  instance_id: string | null;
  /** bothub-<id>: written on the instance, so reconciling knows it as ours. */
  label: string;
  host: string;
  /** renting, starting, active, releasing, released, failed. */
  status: string;
  usd_per_hour: number;
  gpu_model: string;
  gpu_count: number;
  can_checkpoint: number;
  idle_release_ms: number;
  owner_id: string | null;
  /** The agent's data directory there, as asked ("{label}" stands for the rental's label); null: the default. */
  data_dir: string | null;
  /** The SSH private key generated for this rental, sealed. */
  key_sealed: Buffer;
  created_at: string;
  ready_at: string | null;
  ended_at: string | null;
  /** Spend is metered up to here. */
  metered_at: string;
  failure: string | null;
}

export interface ParkedSandboxRow {
  sandbox_id: string;
  rental_id: string;
  execs_json: string;
  /** The fingerprint of the host it was checkpointed on (the gate's input for the next one). */
  fingerprint_json: string;
  parked_at: string;
}

export interface RentalSpendRow {
  hour: string;
  rental_id: string;
  sandbox_id: string;
  sandbox_name: string;
  owner_id: string | null;
  usd: number;
}

/** A user's limit on the hourly price of the rented hosts their sandboxes use (USD). */
export interface UserPriceLimitRow {
  user_id: string;
  max_usd_per_hour: number;
}

/** A move in flight (src/daemon/fleet/move-journal.ts): gone once it finished or was undone. */
export interface MoveRow {
  id: string;
  sandbox_id: string;
  from_host: string;
  /** Its address on the source, given back if the move is undone. */
  from_address: string | null;
  to_host: string;
  /** Where its state is copied on the target. */
  target_dir: string;
  /** freezing, transferring, importing, committing: the step under way. */
  phase: string;
  started_at: string;
  updated_at: string;
}

/** A lease one daemon holds until it expires (see cluster/leases.ts). */
export interface LeaseRow {
  name: string;
  /** The daemon's id (host name, PID and a random part). */
  holder: string;
  /** ms since the epoch, by the database's clock on PostgreSQL. */
  expires_at: number;
}

export interface Tables {
  leases: LeaseRow;
  user_price_limits: UserPriceLimitRow;
  providers: ProviderRow;
  rentals: RentalRow;
  parked_sandboxes: ParkedSandboxRow;
  rental_spend: RentalSpendRow;
  moves: MoveRow;
  hosts: HostRow;
  execs: ExecRow;
  sandboxes: SandboxRow;
  snapshots: SnapshotRow;
  snapshot_chunks: SnapshotChunkRow;
  cold_chunks: ColdChunkRow;
  cold_images: ColdImageRow;
  chunk_cache: ChunkCacheRow;
  layer_archives: LayerArchiveRow;
  layer_chunks: LayerChunkRow;
  stored_manifests: StoredManifestRow;
  shared_images: SharedImageRow;
  users: UserRow;
  publications: PublicationRow;
  events: EventRow;
  shares: ShareRow;
  secrets: SecretRow;
  web_sessions: WebSessionRow;
  registry_credentials: RegistryCredentialRow;
}
