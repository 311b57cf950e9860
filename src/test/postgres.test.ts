import { after } from 'node:test';
import { stopSharedPostgres } from './helpers/postgres.js';

/**
 * The daemon-level suites that exercise the state database, run again with
 * every test daemon on PostgreSQL (BOTHUB_TEST_DB=postgres: one server for
 * this process, a fresh database per daemon). The same files run on SQLite
 * under their own names; database.test.ts covers both engines below the daemon.
 * Imported, not spawned: their tests register here, with the variable set first.
 * Any other file runs the same way with BOTHUB_TEST_DB=postgres (crash-recovery
 * does; it is left out here for CI's time, as its records are plain updates).
 */
process.env.BOTHUB_TEST_DB = 'postgres';
after(() => stopSharedPostgres());

await import('./quota.test.js');
await import('./api-errors.test.js');
await import('./restart.test.js');
await import('./consistency.test.js');
