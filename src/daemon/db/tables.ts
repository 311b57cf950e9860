export interface SandboxRow {
  id: string;
  name: string;
  image: string;
  status: string;
  status_reason: string | null;
  cpus: number | null;
  memory_mb: number | null;
  pids_limit: number;
  network: string;
  address: string | null;
  command_json: string;
  env_json: string;
  created_at: string;
  started_at: string | null;
  updated_at: string;
  snapshot_id: string | null;
}

export interface SnapshotRow {
  id: string;
  name: string;
  sandbox_id: string;
  sandbox_name: string;
  size_bytes: number;
  leave_running: number;
  created_at: string;
}

export interface Tables {
  sandboxes: SandboxRow;
  snapshots: SnapshotRow;
}
