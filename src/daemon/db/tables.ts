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
}

export interface Tables {
  sandboxes: SandboxRow;
}
