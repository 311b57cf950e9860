import type { Logger } from 'pino';
import type { ConsistencyReportT, DoctorT } from '../api/index.js';
import type { ImageStore } from '../runtime/index.js';
import type { ConsoleLogs } from './services/console-logs.js';
import type { ExecService } from './services/exec-service.js';
import type { FileService } from './services/file-service.js';
import type { HostService } from './fleet/host-service.js';
import type { SandboxService } from './services/sandbox-service.js';
import type { SnapshotService } from './services/snapshot-service.js';
import type { SecretService } from './services/secret-service.js';
import type { RegistryCredentialService } from './services/registry-credentials.js';
import type { ImageSaveService } from './services/image-save-service.js';
import type { UserService } from './services/user-service.js';
import type { ThermalService } from './services/thermal-service.js';
import type { PublishService } from './services/publish-service.js';
import type { EventLog } from './services/event-log.js';
import type { ShareService } from './services/share-service.js';
import type { StatsService } from './services/stats-service.js';
import type { WebSessions } from './services/web-sessions.js';
import type { ImportService } from './fleet/import-service.js';
import type { MoveService } from './fleet/move-service.js';
import type { ProviderKeys } from './rent/provider-keys.js';
import type { RentService } from './rent/rent-service.js';
import type { Rentals } from './rent/rentals.js';
import type { SpendMeter } from './rent/spend.js';
import type { SharedImages } from './fleet/shared-images.js';

/**
 * What request handlers may use; built once by startDaemon. Services only:
 * handlers never reach the database or the runtime themselves.
 */
export interface DaemonContext {
  version: string;
  /** Failed authentications per address and minute before 429. */
  authMaxFailures: number;
  /** How long a failed authentication waits before it is answered. */
  authFailureDelayMs: number;
  log: Logger;
  images: ImageStore;
  /** The images every daemon on the database sees (BOTHUB_STORE); absent: this daemon's alone. */
  sharedImages?: SharedImages;
  sandboxes: SandboxService;
  exec: ExecService;
  files: FileService;
  hosts: HostService;
  imports: ImportService;
  moves: MoveService;
  logs: ConsoleLogs;
  snapshots: SnapshotService;
  doctor: () => Promise<DoctorT>;
  /** Records against reality on every host (`bothub doctor --consistency`). */
  consistency: (opts: { deep?: boolean }) => Promise<ConsistencyReportT>;
  users: UserService;
  thermal: ThermalService;
  publish: PublishService;
  events: EventLog;
  shares: ShareService;
  /** The web dashboard's sign-in sessions. */
  webSessions: WebSessions;
  stats: StatsService;
  secrets: SecretService;
  registries: RegistryCredentialService;
  imageSaves: ImageSaveService;
  /** Rented GPU hosts: provider keys, renting, releasing, spend. */
  providerKeys: ProviderKeys;
  rentService: RentService;
  rentals: Rentals;
  meter: SpendMeter;
  /** What stands on an image (sandboxes, snapshots): it is not removed while any does. */
  imageUsers: (image: string) => Promise<{ sandboxes: string[]; snapshots: string[] }>;
  /** Removes a user; with force, first destroys what it owns. */
  removeUser: (name: string, force: boolean) => Promise<void>;
}
