import type { Logger } from 'pino';
import type { DoctorT } from '../api/index.js';
import type { ImageStore, SandboxRuntime } from '../runtime/index.js';
import type { Db } from './db/database.js';
import type { ConsoleLogs } from './services/console-logs.js';
import type { ExecService } from './services/exec-service.js';
import type { SandboxService } from './services/sandbox-service.js';
import type { SnapshotService } from './services/snapshot-service.js';

/** What request handlers may use; built once by startDaemon. */
export interface DaemonContext {
  version: string;
  log: Logger;
  db: Db;
  runtime: SandboxRuntime;
  images: ImageStore;
  sandboxes: SandboxService;
  exec: ExecService;
  logs: ConsoleLogs;
  snapshots: SnapshotService;
  doctor: () => Promise<DoctorT>;
}
