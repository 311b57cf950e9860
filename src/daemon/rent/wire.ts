import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { Sealer } from '../security/master-key.js';
import type { EventLog } from '../services/event-log.js';
import type { HostService } from '../fleet/host-service.js';
import type { SandboxService } from '../services/sandbox-service.js';
import { Parking } from './parking.js';
import { ProviderKeys } from './provider-keys.js';
import { Releaser } from './release.js';
import { RentService } from './rent-service.js';
import { Rentals } from './rentals.js';
import { SpendMeter } from './spend.js';

/** Reconciling with the providers every this many rent ticks (30 s each by default: five minutes). */
const RECONCILE_EVERY_TICKS = 10;

/** The rented-hosts services, as the daemon's context holds them. */
export function wireRentals(d: { db: Db; sealer: Sealer; hosts: HostService; sandboxes: SandboxService; events: EventLog; dataDir: string; tickMs: number; placeWaitMs: number; log: Logger }) {
  const { db, sealer, hosts, sandboxes, events, log } = d;
  const providerKeys = new ProviderKeys(db, sealer);
  const meter = new SpendMeter(db);
  const rentService = new RentService({ db, sealer, hosts, keys: providerKeys, meter, log });
  const parking = new Parking({ db, sandboxes, hosts, events, dir: join(d.dataDir, 'parked'), log });
  const releaser = new Releaser({ db, hosts, keys: providerKeys, rent: rentService, parking, log });
  const rentals = new Rentals({ db, keys: providerKeys, rent: rentService, releaser, parking, meter, sandboxes, tickMs: d.tickMs, placeWaitMs: d.placeWaitMs, reconcileEveryTicks: RECONCILE_EVERY_TICKS, log });
  return { providerKeys, meter, rentService, rentals };
}
