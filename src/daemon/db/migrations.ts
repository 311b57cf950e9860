import { sql, type Kysely, type Migration } from 'kysely';
import { isPostgres } from './dialect.js';
import { migrationsFrom0014 } from './migrations-from-0014.js';

/**
 * Versioned migrations, applied in name order at every start. Never edit one
 * that has shipped: add the next.
 *
 * The same migrations run on SQLite and PostgreSQL. Write them with Kysely's
 * schema builder in SQLite's types ('text', 'integer', 'real', 'blob';
 * booleans as integer 0/1; times as ISO text the code writes; autoIncrement
 * keys): on PostgreSQL PortableSchemaPlugin maps those types. Raw SQL only
 * where the two differ, behind `isPostgres(db)`, as in 0009.
 */
export const migrations: Record<string, Migration> = {
  '0001_sandboxes': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sandboxes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('image', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('status_reason', 'text')
        .addColumn('cpus', 'real')
        .addColumn('memory_mb', 'integer')
        .addColumn('pids_limit', 'integer', (c) => c.notNull())
        .addColumn('network', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.unique())
        .addColumn('command_json', 'text', (c) => c.notNull())
        .addColumn('env_json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
        .execute();
    },
  },
  '0002_snapshots': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('snapshots')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('sandbox_id', 'text', (c) => c.notNull())
        .addColumn('sandbox_name', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'integer', (c) => c.notNull())
        .addColumn('leave_running', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      // The snapshot a sandbox stopped into: it resumes from there, and it cannot be deleted meanwhile.
      await db.schema.alterTable('sandboxes').addColumn('snapshot_id', 'text').execute();
    },
  },
  '0003_users_and_secrets': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('admin', 'integer', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull().unique())
        .addColumn('key_hash', 'text', (c) => c.notNull())
        .addColumn('max_sandboxes', 'integer')
        .addColumn('max_memory_mb', 'integer')
        .addColumn('max_snapshot_bytes', 'integer')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('sandboxes').addColumn('owner_id', 'text').execute();
      await db.schema
        .alterTable('sandboxes')
        .addColumn('secrets_json', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await db.schema.alterTable('snapshots').addColumn('owner_id', 'text').execute();
      await db.schema
        .createTable('secrets')
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('ciphertext', 'blob', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('secrets_pk', ['owner_id', 'name'])
        .execute();
    },
  },
  '0004_thermal_and_publishing': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('sandboxes')
        .addColumn('thermal', 'text', (c) => c.notNull().defaultTo('hot'))
        .execute();
      await db.schema.alterTable('sandboxes').addColumn('idle_warm_ms', 'integer').execute();
      await db.schema.alterTable('sandboxes').addColumn('idle_cold_ms', 'integer').execute();
      await db.schema
        .alterTable('sandboxes')
        .addColumn('keep_hot', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable('sandboxes').addColumn('last_active_at', 'text').execute();
      await db.schema
        .createTable('publications')
        .addColumn('sandbox_id', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('public', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('publications_pk', ['sandbox_id', 'port'])
        .execute();
      await db.schema
        .createTable('events')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('sandbox_id', 'text', (c) => c.notNull())
        .addColumn('sandbox_name', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text')
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('detail', 'text')
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0005_shares': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('shares')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('sandbox_id', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('owner_id', 'text')
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0006_execs': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('execs')
        .addColumn('sandbox_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('command_json', 'text', (c) => c.notNull())
        .addColumn('cwd', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('tty', 'integer', (c) => c.notNull())
        .addColumn('detached', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text')
        .addColumn('exit_code', 'integer')
        .addColumn('signal', 'integer')
        .addColumn('output_bytes', 'integer')
        .addColumn('pid', 'integer')
        .addPrimaryKeyConstraint('execs_pk', ['sandbox_id', 'id'])
        .execute();
      await db.schema.createIndex('execs_by_start').on('execs').columns(['sandbox_id', 'started_at']).execute();
    },
  },
  '0007_hosts': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('hosts')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('key_sealed', 'blob', (c) => c.notNull())
        .addColumn('host_key', 'text', (c) => c.notNull())
        .addColumn('fingerprint_json', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('status_reason', 'text')
        .addColumn('last_seen_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0008_fleet_placement': {
    async up(db: Kysely<any>) {
      // Where each sandbox runs; 'local' is the daemon's own machine.
      await db.schema
        .alterTable('sandboxes')
        .addColumn('host', 'text', (c) => c.notNull().defaultTo('local'))
        .execute();
      await db.schema
        .alterTable('hosts')
        .addColumn('data_dir', 'text', (c) => c.notNull().defaultTo('/var/lib/bothub'))
        .execute();
      await db.schema.alterTable('hosts').addColumn('agent_key_sealed', 'blob').execute();
    },
  },
  '0009_addresses_per_host': {
    async up(db: Kysely<any>) {
      // Each host's bridge hands out its own addresses: unique per host, not across the fleet.
      if (isPostgres(db)) {
        await sql`alter table sandboxes drop constraint sandboxes_address_key`.execute(db);
        await db.schema.createIndex('sandboxes_host_address').unique().on('sandboxes').columns(['host', 'address']).execute();
        return;
      }
      // SQLite cannot drop a column's UNIQUE, so the table is rebuilt without it (same columns, same rows).
      const { rows } = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'sandboxes'`.execute(db);
      const create = rows[0]!.sql.replace(/"address" text unique/i, '"address" text');
      if (create === rows[0]!.sql) throw new Error('migration 0009: the sandboxes table does not have the expected address column');
      await sql.raw(create.replace(/^CREATE TABLE "?sandboxes"?/i, 'CREATE TABLE "sandboxes_0009"')).execute(db);
      await sql`insert into sandboxes_0009 select * from sandboxes`.execute(db);
      await sql`drop table sandboxes`.execute(db);
      await sql`alter table sandboxes_0009 rename to sandboxes`.execute(db);
      await db.schema.createIndex('sandboxes_host_address').unique().on('sandboxes').columns(['host', 'address']).execute();
    },
  },
  '0010_gpus': {
    async up(db: Kysely<any>) {
      // How many GPUs it asks for (its spec), and which ones it holds (or held last, when it sleeps).
      await db.schema
        .alterTable('sandboxes')
        .addColumn('gpus', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('sandboxes')
        .addColumn('gpu_uuids_json', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
    },
  },
  '0011_web_sessions': {
    async up(db: Kysely<any>) {
      // Dashboard sign-ins: only a hash of the cookie's id is kept. A session is
      // bound to the key it was opened with (rotating the key ends it) and goes with its user.
      await db.schema
        .createTable('web_sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('csrf_token', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('web_sessions_user').on('web_sessions').column('user_id').execute();
    },
  },
  '0012_disk_limits': {
    async up(db: Kysely<any>) {
      // A sandbox's writable layer size (null: unlimited, as every sandbox before this was); users' disk and GPU quotas.
      await db.schema.alterTable('sandboxes').addColumn('disk_mb', 'integer').execute();
      await db.schema.alterTable('users').addColumn('max_disk_mb', 'integer').execute();
      await db.schema.alterTable('users').addColumn('max_gpus', 'integer').execute();
    },
  },
  '0013_registry_credentials': {
    async up(db: Kysely<any>) {
      // A user's logins to OCI registries: the password sealed with the master key, bound to owner and host.
      await db.schema
        .createTable('registry_credentials')
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('password_sealed', 'blob', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('registry_credentials_pk', ['owner_id', 'host'])
        .execute();
    },
  },
  // 0014 onwards: migrations-from-0014.ts (this file had reached 400 lines); new ones go there.
  ...migrationsFrom0014,
};
